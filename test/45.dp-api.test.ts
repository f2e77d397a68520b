/**
 * The public API of lemma.dp's structures: every validation message (by regex), input forms,
 * default depth rules, dispose / ERR_DISPOSED, release → loadL1Kde round trips (both encodings,
 * both structures) and tampered documents, CUDA requests without a GPU, the batched query against
 * queryOne, and that a build does not block the event loop.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';

const X = { data: new Float64Array([0.1, 0.9, 0.4, 0.6, 0.5, 0.5, 0.8, 0.2]), shape: [4, 2] };
const base = { epsilon: 1, range: 1, levels: 4 } as const;
const det = { seed: 3, insecureDeterministic: true } as const;

test('query(Y) equals queryOne row by row, for tensors (f64 and f32) and arrays of rows', async (t) => {
  const kde = await lemma.dp.l1Kde(X, { ...base, ...det });
  const rows = [[0.2, 0.3], [0.9, 0.1], [-0.5, 1.5]];
  const a = (await kde.query(rows)).estimates;
  const b = (await kde.query({ data: Float64Array.from(rows.flat()), shape: [3, 2] })).estimates;
  const c = (await kde.query({ data: Float32Array.from([0.25, 0.5, 0.75, 0.125]), shape: [2, 2] })).estimates;
  t.deepEqual(a, b);
  t.deepEqual([...a], rows.map((r) => kde.queryOne(r)));
  t.deepEqual([...c], [kde.queryOne([0.25, 0.5]), kde.queryOne([0.75, 0.125])]);
  t.deepEqual((await kde.query({ data: new Float64Array(0), shape: [0, 2] })).estimates, new Float64Array(0));
  t.is(kde.d, 2);
  t.is(kde.levels, 4);
  t.is(kde.gridBits, 20);
  t.is(kde.epsilon, 1);
  t.is(kde.neighbour, 'add-remove');
  t.is(kde.variant, 'midpoint');
  t.is(kde.budgetSplit, null);
  const paper = await lemma.dp.l1Kde(X, { ...base, ...det, variant: 'paper' });
  t.is(paper.variant, 'paper');
  t.is(paper.budgetSplit, 0.5);
  t.deepEqual(kde.ranges, [[0, 1], [0, 1]]);
  t.is(kde.nodeReads([0.2, 0.3]), 2 * 2 * 4);
});

test('depth: levels or the public maxRows under add-remove, ⌈log₂ n⌉ under replace (capped at 26)', async (t) => {
  await t.throwsAsync(lemma.dp.l1Kde(X, { epsilon: 1, range: 1 }), { instanceOf: TypeError, message: /^Expected an integer between 1 and 26, or a public bound options\.maxRows \(required with neighbour 'add-remove': a depth derived from n would reveal n\) for options\.levels but received undefined of type undefined$/ });
  t.is((await lemma.dp.l1Kde(X, { epsilon: 1, range: 1, maxRows: 1000 })).levels, 10, '⌈log₂ 1000⌉ from the public bound, whatever n is');
  t.is((await lemma.dp.l1Kde(X, { epsilon: 1, range: 1, maxRows: 1000, levels: 4 })).levels, 4, 'levels wins over maxRows');
  await t.throwsAsync(lemma.dp.l1Kde(X, { epsilon: 1, range: 1, maxRows: 2 ** 40, levels: 4 }), { instanceOf: RangeError, message: /^Expected at most 8589942784 rows for gridBits = 20 \(maxRows·\(2\^gridBits − 1\) < 2\^53 keeps the sums exact; lower gridBits\) for options\.maxRows/ });
  await t.throwsAsync(lemma.dp.l1Kde(X, { epsilon: 1, range: 1, maxRows: 0 }), { instanceOf: RangeError, message: /options\.maxRows/ });
  t.is((await lemma.dp.l1Kde(X, { epsilon: 1, range: 1, neighbour: 'replace' })).levels, 2);
  const five = { data: new Float64Array(10).fill(0.5), shape: [5, 2] };
  t.is((await lemma.dp.baselineL1Kde(five, { epsilon: 1, range: 1, neighbour: 'replace' })).levels, 3);
  const none = await lemma.dp.l1Kde({ data: new Float64Array(0), shape: [0, 3] }, { epsilon: 1, range: 1, levels: 3 });
  t.is(none.d, 3, 'an empty dataset is fine under add-remove');
});

test('ranges: one R, one [lo, hi] for all, or one pair per coordinate', async (t) => {
  const a = await lemma.dp.l1Kde(X, { ...base, range: [-1, 2] });
  t.deepEqual(a.ranges, [[-1, 2], [-1, 2]]);
  const b = await lemma.dp.l1Kde(X, { ...base, range: [[0, 1], [-5, 5]] });
  t.deepEqual(b.ranges, [[0, 1], [-5, 5]]);
});

test('dispose: idempotent, Symbol.dispose, and ERR_DISPOSED everywhere after', async (t) => {
  const kde = await lemma.dp.l1Kde(X, base);
  t.false(kde.disposed);
  kde[Symbol.dispose]();
  kde.dispose();
  t.true(kde.disposed);
  const disposed = { code: 'ERR_DISPOSED', message: /^this PrivateL1Kde has been disposed$/ } as const;
  t.throws(() => kde.queryOne([0, 0]), disposed);
  t.throws(() => kde.errorStd([0, 0]), disposed);
  t.throws(() => kde.release(), disposed);
  t.throws(() => kde.epsilon, disposed);
  t.throws(() => kde.nodeReads([0, 0]), disposed);
  await t.throwsAsync(kde.query([[0, 0]]), disposed);
  const b = await lemma.dp.baselineL1Kde(X, base);
  b.dispose();
  t.throws(() => b.queryOne([0, 0]), { code: 'ERR_DISPOSED', message: /^this BaselineL1Kde has been disposed$/ });
});

test('a query in flight survives dispose()', async (t) => {
  const kde = await lemma.dp.l1Kde(X, { ...base, ...det });
  const want = kde.queryOne([0.3, 0.3]);
  const p = kde.query([[0.3, 0.3]]);
  kde.dispose();
  const r = await p;
  t.deepEqual([...r.estimates], [want]);
  t.is(r.device, 'cpu');
});

for (const structure of ['tree', 'tree-paper', 'baseline-independent', 'baseline-prefix'] as const) {
  for (const encoding of ['array', 'base64-float64le'] as const) {
    test(`release → JSON → loadL1Kde answers identically (${structure}, ${encoding})`, async (t) => {
      const opts = { epsilon: 0.7, range: [[0, 1], [-2, 3]] as Array<[number, number]>, levels: 5, gridBits: 12, ...det };
      const kde = structure.startsWith('tree')
        ? await lemma.dp.l1Kde(X, structure === 'tree-paper' ? { ...opts, variant: 'paper', budgetSplit: 0.3 } : opts)
        : await lemma.dp.baselineL1Kde(X, { ...opts, alpha: 0.25, bandCounts: structure === 'baseline-prefix' ? 'prefix' : 'independent' });
      const doc = JSON.parse(JSON.stringify(kde.release({ encoding }))) as lemma.dp.L1KdeDocument;
      t.is(doc.encoding, encoding);
      const back = lemma.dp.loadL1Kde(doc);
      t.is(back.constructor, kde.constructor);
      const Y = [[0.1, 0.1], [0.5, -1], [2, 7]];
      t.deepEqual((await back.query(Y)).estimates, (await kde.query(Y)).estimates);
      t.is(back.errorStd([0.4, 0.4]), kde.errorStd([0.4, 0.4]));
      t.deepEqual(back.release(), kde.release());
    });
  }
}

test('a version-1 document (the earlier paper tree, one noise part per part) still loads and answers the same', async (t) => {
  const kde = await lemma.dp.l1Kde(X, { epsilon: 0.7, range: 1, levels: 5, gridBits: 12, variant: 'paper', ...det });
  const v2 = kde.release() as unknown as Record<string, unknown> & { noise: { counts: unknown[]; sums: unknown[] } };
  const { variant: _variant, ...rest } = v2;
  const v1 = { ...rest, version: 1, noise: { mechanism: 'discrete-laplace', counts: v2.noise.counts[0], sums: v2.noise.sums[0] } };
  const back = lemma.dp.loadL1Kde(v1) as lemma.dp.PrivateL1Kde;
  t.is(back.variant, 'paper');
  const Y = [[0.1, 0.1], [0.5, 0.9]];
  t.deepEqual((await back.query(Y)).estimates, (await kde.query(Y)).estimates);
  t.deepEqual(back.release(), kde.release());
});

test('loadL1Kde refuses malformed and inconsistent documents', async (t) => {
  const kde = await lemma.dp.l1Kde(X, { ...base, ...det });
  const good = () => JSON.parse(JSON.stringify(kde.release())) as Record<string, unknown>;
  const cases: Array<[string, (d: Record<string, unknown>) => unknown, new (...a: never[]) => Error, RegExp]> = [
    ['not an object', () => 'x', TypeError, /^Expected a release document object for doc but received "x"/],
    ['wrong format', (d) => ({ ...d, format: 'other' }), RangeError, /^Expected format 'lemma\.dp\.l1-kde' for doc\.format but received "other"/],
    ['wrong version', (d) => ({ ...d, version: 3 }), RangeError, /^Expected version 1 or 2 for doc\.version but received 3/],
    ['unknown variant', (d) => ({ ...d, variant: 'x' }), RangeError, /^Expected one of 'midpoint', 'paper' for doc\.variant/],
    ['noise not per level', (d) => ({ ...d, noise: { ...(d.noise as object), counts: (d.noise as { counts: unknown[] }).counts.slice(1) } }), TypeError, /^Expected an array of 4 noise parts \(one per level\) for doc\.noise\.counts/],
    ['unknown structure', (d) => ({ ...d, structure: 'x' }), RangeError, /^Expected one of 'tree', 'baseline' for doc\.structure/],
    ['levels above gridBits', (d) => ({ ...d, levels: 21 }), RangeError, /^Expected an integer between 21 and 32 for doc\.gridBits but received 20/],
    ['tampered epsilon', (d) => ({ ...d, epsilon: 2 }), RangeError, /^Expected the noise parameters implied by epsilon, neighbour, variant, d, levels and gridBits/],
    ['tampered scale', (d) => ({ ...d, noise: { ...(d.noise as object), counts: Array(4).fill({ t: 1, s: 1, sensitivity: 1 }) } }), RangeError, /for doc\.noise but received a Object/],
    ['a variant swapped', (d) => ({ ...d, variant: 'paper', budgetSplit: 0.5 }), RangeError, /^Expected the noise parameters implied/],
    ['short counts', (d) => ({ ...d, counts: (d.counts as number[][]).map((c) => c.slice(1)) }), lemma.LemmaError, /^Expected 30 values \(levels 1\.\.4\) for doc\.counts\[0\]/],
    ['a fractional count', (d) => ({ ...d, counts: (d.counts as number[][]).map((c) => [0.5, ...c.slice(1)]) }), RangeError, /^Expected an integer for doc\.counts\[0\]\[0\] but received 0\.5/],
    ['missing sums', (d) => ({ ...d, sums: undefined }), TypeError, /^Expected an array of d = 2 encoded arrays for doc\.sums but received undefined/],
    ['bad ranges', (d) => ({ ...d, ranges: [[0, 1], [1, 0]] }), RangeError, /^Expected finite numbers with lo < hi for doc\.ranges\[1\]/],
    ['bad base64 length', (d) => ({ ...d, encoding: 'base64-float64le', counts: ['AAAA', 'AAAA'] }), lemma.LemmaError, /^Expected 240 bytes for doc\.counts\[0\] but received "3 bytes"/],
  ];
  for (const [name, mutate, cls, re] of cases) {
    t.throws(() => lemma.dp.loadL1Kde(mutate(good())), { instanceOf: cls, message: re }, name);
  }
});

test("device 'cuda' without a usable GPU is refused with ERR_CUDA_UNAVAILABLE; 'auto' falls back", async (t) => {
  const kde = await lemma.dp.l1Kde(X, { ...base, ...det });
  const Y = Array.from({ length: 5000 }, (_, i) => [i / 5000, 1 - i / 5000]);
  if (lemma.cudaAvailable()) {
    t.log('a GPU is usable here: test/gpu/dp-query.test.ts covers CUDA parity');
    t.deepEqual((await kde.query(Y, { device: 'auto' })).estimates, (await kde.query(Y, { device: 'cpu' })).estimates);
    return;
  }
  await t.throwsAsync(kde.query(Y, { device: 'cuda' }), { code: 'ERR_CUDA_UNAVAILABLE', message: /^device 'cuda' was requested but no GPU is usable/ });
  t.deepEqual((await kde.query(Y, { device: 'auto' })).estimates, (await kde.query(Y, { device: 'cpu' })).estimates);
});

test('a large build yields to the event loop while the noise is drawn', async (t) => {
  const data = new Float64Array(2 * 4096).map((_, i) => (i % 101) / 101);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const kde = await lemma.dp.l1Kde({ data, shape: [4096, 2] }, { epsilon: 1, range: 1, levels: 16 }); // 2·2·2^17 draws
  clearInterval(timer);
  t.true(ticks >= 3, `the interval fired ${ticks} times during the build`);
  t.is(kde.levels, 16);
});

test('onProgress covers the whole build: the exact tree, then the noise, in one count that only grows to 1', async (t) => {
  const data = new Float64Array(2 * 4096).map((_, i) => (i % 101) / 101);
  for (const [name, build] of [
    ['tree (midpoint)', (o: object) => lemma.dp.l1Kde({ data, shape: [4096, 2] }, { epsilon: 1, range: 1, levels: 16, ...o })],
    ['tree (paper)', (o: object) => lemma.dp.l1Kde({ data, shape: [4096, 2] }, { epsilon: 1, range: 1, levels: 16, variant: 'paper', ...o })],
    ['baseline', (o: object) => lemma.dp.baselineL1Kde({ data, shape: [4096, 2] }, { epsilon: 1, range: 1, levels: 16, ...o })],
  ] as const) {
    const seen: Array<{ done: number; total: number; fraction: number; phase?: string }> = [];
    const kde = await build({ onProgress: (p: { done: number; total: number; fraction: number; phase?: string }) => seen.push(p) });
    kde.dispose();
    const phases = seen.map((p) => p.phase);
    const firstNoise = phases.indexOf('noise');
    t.true(firstNoise > 0, `${name}: the exact tree is reported first (${phases.join(', ')})`);
    t.true(phases.slice(0, firstNoise).every((p) => p === 'exact tree') && phases.slice(firstNoise).every((p) => p === 'noise'), name);
    t.true(phases.length - firstNoise >= 2, `${name}: the noise reports as it goes (${phases.length - firstNoise} reports)`);
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1], seen[i]];
      t.true(b.done >= a.done && b.total >= a.total && b.fraction >= a.fraction, `${name}: report ${i} ${JSON.stringify(b)} after ${JSON.stringify(a)}`);
    }
    const last = seen[seen.length - 1];
    t.is(last.done, last.total, name);
    t.is(last.fraction, 1, name);
  }
});

const typeErrors: Array<[string, () => Promise<unknown>, RegExp]> = [
  ['a misspelt option (epsilom)', () => lemma.dp.l1Kde(X, { ...base, epsilom: 2 } as never), /^Expected a known option name \(did you mean 'epsilon'\?\) for options but received "epsilom" of type string$/],
  ['a baseline option on the tree (alpha)', () => lemma.dp.l1Kde(X, { ...base, alpha: 0.1 } as never), /did you mean/],
  ['a misspelt query option', async () => (await lemma.dp.l1Kde(X, base)).query([[0.5, 0.5]], { devise: 'cpu' } as never), /did you mean 'device'\?/],
  ['a misspelt release option', async () => (await lemma.dp.l1Kde(X, base)).release({ encodng: 'array' } as never), /did you mean 'encoding'\?/],
  ['X null', () => lemma.dp.l1Kde(null as never, base), /^Expected a tensor \{ data, shape \} for X but received null/],
  ['X rows with a string', () => lemma.dp.l1Kde([[0, 'secret']] as never, base), /^Expected a number for X\[0\]\[1\] but received a value of type string \(private data: the value is not shown\)$/],
  ['X row not an array', () => lemma.dp.l1Kde([[0, 1], 5] as never, base), /^Expected an array of numbers for X\[1\] but received a value of type number \(private data/],
  ['options missing', () => lemma.dp.l1Kde(X, undefined as never), /^Expected a finite number greater than 0 for options\.epsilon but received undefined/],
  ['epsilon a string', () => lemma.dp.l1Kde(X, { ...base, epsilon: '1' as never }), /^Expected a finite number greater than 0 for options\.epsilon but received "1" of type string$/],
  ['range a string', () => lemma.dp.l1Kde(X, { ...base, range: '1' as never }), /^Expected a positive number R, a pair \[lo, hi\], or 2 pairs \[lo, hi\] for options\.range but received "1" of type string$/],
  ['range pair of strings', () => lemma.dp.l1Kde(X, { ...base, range: [['0', 1], [0, 1]] as never }), /^Expected a pair \[lo, hi\] of numbers for options\.range\[0\] but received \["0", 1\]/],
  ['levels a string', () => lemma.dp.l1Kde(X, { ...base, levels: '4' as never }), /^Expected an integer between 1 and 26 for options\.levels but received "4" of type string$/],
  ['gridBits a string', () => lemma.dp.l1Kde(X, { ...base, gridBits: '8' as never }), /^Expected an integer between 4 and 32 for options\.gridBits but received "8"/],
  ['neighbour a number', () => lemma.dp.l1Kde(X, { ...base, neighbour: 1 as never }), /^Expected one of 'add-remove', 'replace' for options\.neighbour but received 1 of type number$/],
  ['budgetSplit a string', () => lemma.dp.l1Kde(X, { ...base, variant: 'paper', budgetSplit: '0.5' as never }), /^Expected a finite number between 0 and 1 for options\.budgetSplit but received "0\.5"/],
  ['alpha a string', () => lemma.dp.baselineL1Kde(X, { ...base, alpha: '1' as never }), /^Expected a finite number between 0 and 16 for options\.alpha but received "1"/],
  ['bandCounts a number', () => lemma.dp.baselineL1Kde(X, { ...base, bandCounts: 1 as never }), /^Expected one of 'independent', 'prefix' for options\.bandCounts but received 1/],
  ['label a number', () => lemma.dp.l1Kde(X, { ...base, label: 1 as never }), /^Expected a string for options\.label but received 1 of type number$/],
  ['Y not points', async () => (await lemma.dp.l1Kde(X, base)).query('y' as never), /^Expected a tensor \{ data, shape \} for Y but received "y"/],
  ['y not an array', async () => (await lemma.dp.l1Kde(X, base)).queryOne(5 as never), /^Expected an array of 2 numbers for y but received 5 of type number$/],
  ['y with a string', async () => (await lemma.dp.l1Kde(X, base)).errorStd([0, 'a'] as never), /^Expected a number for y\[1\] but received "a" of type string$/],
  ['query options not an object', async () => (await lemma.dp.l1Kde(X, base)).query([[0, 0]], 1 as never), /^Expected an options object for options but received 1 of type number$/],
  ['release options not an object', async () => (await lemma.dp.l1Kde(X, base)).release(1 as never), /^Expected an options object for options but received 1/],
];
for (const [name, fn, re] of typeErrors) {
  test(`TypeError: ${name}`, async (t) => {
    await t.throwsAsync(fn(), { instanceOf: TypeError, message: re });
  });
}

const rangeErrors: Array<[string, () => Promise<unknown>, RegExp]> = [
  ['epsilon 0', () => lemma.dp.l1Kde(X, { ...base, epsilon: 0 }), /^Expected a finite number greater than 0 for options\.epsilon but received 0 of type number$/],
  ['epsilon NaN', () => lemma.dp.l1Kde(X, { ...base, epsilon: NaN }), /for options\.epsilon but received NaN/],
  ['range 0', () => lemma.dp.l1Kde(X, { ...base, range: 0 }), /^Expected a finite number greater than 0 for options\.range but received 0/],
  ['range reversed', () => lemma.dp.l1Kde(X, { ...base, range: [1, 0] }), /^Expected finite numbers with lo < hi for options\.range but received \[1, 0\]/],
  ['range of the wrong count', () => lemma.dp.l1Kde(X, { ...base, range: [[0, 1], [0, 1], [0, 1]] }), /^Expected a positive number R, a pair \[lo, hi\], or 2 pairs \[lo, hi\] for options\.range but received \[\[0, 1\], \[0, 1\], \[0, 1\]\]/],
  ['range infinite', () => lemma.dp.l1Kde(X, { ...base, range: [0, Infinity] }), /^Expected finite numbers with lo < hi for options\.range/],
  ['levels 0', () => lemma.dp.l1Kde(X, { ...base, levels: 0 }), /^Expected an integer between 1 and 26 for options\.levels but received 0/],
  ['levels 27', () => lemma.dp.l1Kde(X, { ...base, levels: 27 }), /for options\.levels but received 27/],
  ['gridBits below levels', () => lemma.dp.l1Kde(X, { ...base, gridBits: 3 }), /^Expected an integer between 4 and 32 for options\.gridBits but received 3/],
  ['neighbour unknown', () => lemma.dp.l1Kde(X, { ...base, neighbour: 'swap' as never }), /^Expected one of 'add-remove', 'replace' for options\.neighbour but received "swap"/],
  ['budgetSplit 1', () => lemma.dp.l1Kde(X, { ...base, variant: 'paper', budgetSplit: 1 }), /^Expected a number strictly between 0 and 1 for options\.budgetSplit but received 1/],
  ['alpha 0', () => lemma.dp.baselineL1Kde(X, { ...base, alpha: 0 }), /^Expected a finite number between 0 and 16 for options\.alpha but received 0/],
  ['seed without the flag', () => lemma.dp.l1Kde(X, { ...base, seed: 1 }), /^Expected no seed \(a seed is accepted only together with insecureDeterministic: true, for tests\) for options\.seed/],
  ['Infinity in Y', async () => (await lemma.dp.l1Kde(X, base)).query([[0, Infinity]]), /^Expected a finite number for Y\[0, 1\] but received Infinity/],
  ['NaN in y', async () => (await lemma.dp.l1Kde(X, base)).queryOne([NaN, 0]), /^Expected a finite number for y\[0\] but received NaN/],
  ['device gpu', async () => (await lemma.dp.l1Kde(X, base)).query([[0, 0]], { device: 'gpu' as never }), /^Expected one of 'auto', 'cpu', 'cuda' for options\.device but received "gpu"/],
  ['encoding unknown', async () => (await lemma.dp.l1Kde(X, base)).release({ encoding: 'hex' as never }), /^Expected one of 'array', 'base64-float64le' for options\.encoding but received "hex"/],
];
for (const [name, fn, re] of rangeErrors) {
  test(`RangeError: ${name}`, async (t) => {
    await t.throwsAsync(fn(), { instanceOf: RangeError, message: re });
  });
}

const lemmaErrors: Array<[string, () => Promise<unknown>, lemma.ErrorCode, RegExp]> = [
  ['X rank 3', () => lemma.dp.l1Kde({ data: new Float64Array(8), shape: [2, 2, 2] }, base), 'ERR_SHAPE', /^Expected a rank-2 shape \[n, d\] for X\.shape but received \[2, 2, 2\]/],
  ['X short buffer', () => lemma.dp.l1Kde({ data: new Float64Array(7), shape: [4, 2] }, base), 'ERR_SHAPE', /^Expected 8 elements/],
  ['X with d = 0', () => lemma.dp.l1Kde({ data: new Float64Array(0), shape: [4, 0] }, base), 'ERR_SHAPE', /^Expected at least one coordinate d for X\.shape\[1\] but received 0/],
  ['X ragged rows', () => lemma.dp.l1Kde([[0, 1], [0.123]], base), 'ERR_SHAPE', /^Expected a row of 2 numbers for X\[1\] but received a value of type array \(private data: the value is not shown\) \(1 values\)$/],
  ['X no rows', () => lemma.dp.l1Kde([], base), 'ERR_SHAPE', /^Expected at least one row \(use a tensor \{ data, shape: \[0, d\] \} for no rows\) for X/],
  ['Y of the wrong width', async () => (await lemma.dp.l1Kde(X, base)).query({ data: new Float64Array(3), shape: [1, 3] }), 'ERR_SHAPE', /^Expected d = 2 coordinates \(from the structure\) for Y\.shape\[1\] but received 3/],
  ['y of the wrong length', async () => (await lemma.dp.l1Kde(X, base)).queryOne([1, 2, 3]), 'ERR_SHAPE', /^Expected 2 numbers \(d of the structure\) for y but received \[1, 2, 3\]/],
  ['epsilon too small for the grid', () => lemma.dp.l1Kde(X, { ...base, epsilon: 1e-9, gridBits: 32 }), 'ERR_RANGE', /^epsilon 1e-9 is too small for this tree: the level-\d+ (count|sum) noise scale .* exceeds 2\^45 \(lower gridBits, levels or d, or raise epsilon\)$/],
  // The refusal names the public bound, never n (4194304 here).
  ['more rows than the exact-sum bound', () => lemma.dp.l1Kde({ data: new Float64Array(2 * 2 ** 22), shape: [2 ** 22, 2] }, { ...base, gridBits: 32 }), 'ERR_RANGE', /^X has more rows than maxRows = 2097152, the public bound the sums' exactness and the depth rely on$/],
  ['more rows than maxRows', () => lemma.dp.l1Kde(X, { ...base, maxRows: 3 }), 'ERR_RANGE', /^X has more rows than maxRows = 3,/],
];
for (const [name, fn, code, re] of lemmaErrors) {
  test(`LemmaError ${code}: ${name}`, async (t) => {
    await t.throwsAsync(fn(), { instanceOf: lemma.LemmaError, code, message: re });
  });
}
