/**
 * Example SUBLEQ programs (assembly text for assemble()). Each one's final answer is asserted
 * by test/72.looped-subleq.test.ts, on the MLP and on the interpreter.
 */

/**
 * a ← a · b by repeated addition (spec LM-1): data [a, b, temp, zero, one] = [7, 9, 0, 0, 1].
 * Halts after 26 steps with a = 63, b = 0.
 */
export const multiply = `; multiply: a <- a * b (b >= 1) by repeated addition
        a, temp            ; temp = -a
loop:   one, b, HALT       ; b -= 1; stop when b <= 0
        temp, a            ; a += the original a
        zero, zero, loop   ; always jumps (0 - 0 <= 0)
.data
a:      7
b:      9
temp:   0
zero:   0
one:    1
`;

/**
 * Fibonacci: after n rounds of (x, y) ← (y, x + y) from (0, 1), x = F(n). With n = 20 it halts
 * with x = 6765, y = 10946 (F(24) would overflow 16-bit words).
 */
export const fibonacci = `; fibonacci: x <- F(n), y <- F(n + 1)
top:    zero, n, HALT      ; stop when n <= 0 (n - 0 leaves n unchanged)
        one, n             ; n -= 1
        t, t               ; t = 0
        x, t               ; t = -x
        y, t               ; t = -(x + y)
        u, u               ; u = 0
        y, u               ; u = -y
        x, x               ; x = 0
        u, x               ; x = y
        y, y               ; y = 0
        t, y               ; y = x + y (the old values)
        zero, zero, top
.data
n:      20
x:      0
y:      1
t:      0
u:      0
zero:   0
one:    1
`;

/** The list that `sort` sorts, and its sorted order. */
export const sortInput: readonly number[] = [31, -4, 17, 0, 9];
export const sortOutput: readonly number[] = [-4, 0, 9, 17, 31];

/**
 * One compare-and-swap: leaves min(list[p], list[q]) at p and the max at q. SUBLEQ has no
 * indirect addressing, so the bubble sort is unrolled into these.
 */
function compareSwap(k: number, p: number, q: number): string {
  const P = `list+${p}`;
  const Q = `list+${q}`;
  return `; compare-and-swap list[${p}], list[${q}]
        d, d               ; d = 0
        ${Q}, d            ; d = -q
        e, e               ; e = 0
        d, e               ; e = q
        ${P}, e, swap${k}  ; e = q - p; swap when q <= p
        zero, zero, next${k}
swap${k}: t, t             ; t = 0
        ${P}, t            ; t = -p
        ${P}, ${P}         ; p = 0
        d, ${P}            ; p = q
        ${Q}, ${Q}         ; q = 0
        t, ${Q}            ; q = the old p
next${k}:
`;
}

function bubbleSort(n: number): string {
  const parts: string[] = [`; sort: bubble sort of list[0..${n - 1}] into ascending order (unrolled)\n`];
  let k = 0;
  for (let pass = n - 1; pass >= 1; pass--) for (let i = 0; i < pass; i++) parts.push(compareSwap(k++, i, i + 1));
  parts.push('        zero, zero, HALT\n');
  parts.push(`.data\nlist:   ${sortInput.join(', ')}\nd:      0\ne:      0\nt:      0\nzero:   0\n`);
  return parts.join('');
}

/**
 * Sorts the 5 words at `list` ([31, -4, 17, 0, 9] → [-4, 0, 9, 17, 31]) with 10 unrolled
 * compare-and-swaps (121 instructions, so programSlots P = 128).
 */
export const sort = bubbleSort(sortInput.length);
