#!/usr/bin/env node
// Mutation check of the emulated-device test harness: plants one bug at a time in a copy of
// cuda/ (a removed barrier, a dropped cp.async wait, a prefetch moved before its barrier, a
// shifted fragment index, a causal bound off by one, two in the split-KV decode kernels, one bug
// in each other family), rebuilds the emulated tests against the copy and runs the test that
// should catch it. Every mutant must make
// its test fail (a wrong answer, a device fault, or a timeout); a mutant that survives, or whose
// pattern no longer matches the sources, fails this script.
//   node scripts/emulated/mutants.js [--build DIR] [--only NAME[,NAME...]] [--check]
// The build directory (default build-mutants/) keeps a pristine copy of cuda/ with the original
// timestamps, so each mutant recompiles only the translation units that include the mutated file.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const buildDir = path.resolve(root, opt('--build', 'build-mutants'));
const only = opt('--only', '') ? opt('--only', '').split(',') : null;

// Tests, as argv after the executable; all run on the emulated device with its default
// (rotating) schedule, so run-ahead warps expose missing barriers.
const ATT = (filter) => ({ exe: 'attention_cuda_test', argv: ['--quick', '--filter', filter] });
const SPARSE = { exe: 'sparse_attention_cuda_test', argv: ['--quick'] };
const DIKIN = { exe: 'polytope_cuda_test', argv: [] };
const DP = { exe: 'dp_cuda_test', argv: [] };
const NN = { exe: 'nn_cuda_test', argv: [] };
const ATT_SHAPE = 'B=2 Hq=3 Hkv=3 Nq=64 Nk=64 D=64 causal=1';
const ATT_LONG = 'B=1 Hq=1 Hkv=1 Nq=257 Nk=257 D=64 causal=1';  // several key blocks: a pipeline
const ATT_CAUSAL = 'B=3 Hq=1 Hkv=1 Nq=100 Nk=37 D=64 causal=1';

const ATT_SPLIT = 'fp16/float16 B=1 Hq=8 Hkv=1 Nq=1 Nk=777 D=128 causal=0 split chunk=96';  // 9 chunks, 3 tiles each

const MUTANTS = [
  {
    name: 'split-no-barrier',
    what: 'split-KV forward: the barrier before a K/V stage is refilled removed',
    file: 'attention/flash_split.cu',
    old: '    __syncthreads();  // every warp is done with this stage before it is refilled\n',
    new: '\n',
    test: ATT(ATT_SPLIT),
  },
  {
    name: 'split-combine-drops-chunk',
    what: 'split-KV combine: the last key chunk left out of the log-sum-exp merge',
    file: 'attention/flash_split.cu',
    old: '    for (int c = warp; c < C; c += kCombineWarps) {',
    new: '    for (int c = warp; c < C - 1; c += kCombineWarps) {',
    test: ATT(ATT_SPLIT),
  },
  {
    name: 'fwd-no-barrier',
    what: 'forward: the barrier that publishes K_j (and retires V_{j+1}) removed',
    file: 'attention/flash_fwd.cuh',
    old: '    __syncthreads();  // K_j visible; every warp is done with V_{j+1}\n',
    new: '\n',
    test: ATT(`fp16/float16 ${ATT_SHAPE}`),
  },
  {
    name: 'fwd-no-cp-wait',
    what: 'forward: the cp.async wait before the K_j barrier dropped',
    file: 'attention/flash_fwd.cuh',
    old: '    cp_async_wait<0>();\n    __syncthreads();  // K_j visible',
    new: '    __syncthreads();  // K_j visible',
    test: ATT(`bf16/bfloat16 ${ATT_LONG}`),
  },
  {
    name: 'fwd-prefetch-before-barrier',
    what: 'forward: the K_{j-1} prefetch issued before the barrier that retires K_j',
    file: 'attention/flash_fwd.cuh',
    old:
      '    cp_async_wait<0>();\n    __syncthreads();  // V_j visible; every warp is done with K_j\n' +
      '    if (n_block > 0) {\n      load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sK, gK, n0 - T::kBc, p.Nk);\n' +
      '      cp_async_commit();\n    }\n',
    new:
      '    if (n_block > 0) {\n      load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sK, gK, n0 - T::kBc, p.Nk);\n' +
      '      cp_async_commit();\n    }\n    cp_async_wait<0>();\n    __syncthreads();\n',
    test: ATT(`fp16/float16 ${ATT_LONG}`),
  },
  {
    name: 'fwd-causal-off-by-one',
    what: 'forward: the causal mask lets each row see one key too many',
    file: 'attention/flash_fwd.cuh',
    old: '(p.causal && col > row + shift)) x = -INFINITY;',
    new: '(p.causal && col > row + shift + 1)) x = -INFINITY;',
    test: ATT(`bf16/bfloat16 ${ATT_CAUSAL}`),
  },
  {
    name: 'ldmatrix-fragment-shift',
    what: 'B-operand fragments: the two n8 halves of load_b2 swapped with the k halves',
    file: 'attention/flash_common.cuh',
    old: 'ldmatrix_x4(b, s + (n0 + ri + (mi >> 1) * 8) * pitch + kb + (mi & 1) * 16);',
    new: 'ldmatrix_x4(b, s + (n0 + ri + (mi & 1) * 8) * pitch + kb + (mi >> 1) * 16);',
    test: ATT(`fp16/float16 ${ATT_SHAPE}`),
  },
  {
    name: 'bwd-dkdv-no-barrier',
    what: 'backward dK/dV: the barrier after the Q/dO/lse/D loads removed',
    file: 'attention/flash_bwd.cuh',
    old: '    __syncthreads();  // this step\'s Q, dO, lse, D visible; previous step fully consumed\n',
    new: '\n',
    test: ATT(`bf16/bfloat16 ${ATT_SHAPE}`),
  },
  {
    name: 'bwd-dsum-no-reduce',
    what: 'backward: D = rowsum(dO . O) without the warp reduction (lane 0 keeps its part)',
    file: 'attention/flash_bwd.cuh',
    old: '  acc = warp_sum(acc);\n  if (lane == 0) dsum[row] = acc;',
    new: '  if (lane == 0) dsum[row] = acc;',
    test: ATT(`fp16/float16 ${ATT_SHAPE}`),
  },
  {
    name: 'f32-no-syncwarp',
    what: 'exact fp32 forward: the __syncwarp between writing P and reading it removed',
    file: 'attention/flash_f32.cuh',
    old: '      sPw[r * T::kBc + lane] = pv;\n    }\n    __syncwarp();\n',
    new: '      sPw[r * T::kBc + lane] = pv;\n    }\n',
    test: ATT(`fp32/float32 ${ATT_SHAPE}`),
  },
  {
    name: 'repack-reads-past-row',
    what: 'staging copy: the zero-padding test reads one element past each row',
    file: 'common/device_memory.cu',
    old: 'dst[i] = c < src_cols ?',
    new: 'dst[i] = c <= src_cols ?',
    test: ATT('bf16/bfloat16 B=2 Hq=3 Hkv=3 Nq=64 Nk=64 D=48 causal=0'),
  },
  {
    name: 'sparse-rows-no-barrier',
    what: 'sparse rows kernel: the barrier after staging a K^T sub-tile removed',
    file: 'sparse_attention/sparse_attention.cu',
    old: '        k_s[i] = k0 + j < p.Bs ? kt[(g * p.D + d) * p.Bs + k0 + j] : 0.0f;\n      }\n      __syncthreads();\n',
    new: '        k_s[i] = k0 + j < p.Bs ? kt[(g * p.D + d) * p.Bs + k0 + j] : 0.0f;\n      }\n',
    test: SPARSE,
  },
  {
    name: 'sparse-filter-causal-off-by-one',
    what: 'sparse filter: a block whose first key sits exactly at a row\'s causal limit is dropped',
    file: 'sparse_attention/sparse_attention.cu',
    old: 'pmin <= lim_s[r]) bits |= 1u << r;',
    new: 'pmin < lim_s[r]) bits |= 1u << r;',
    test: SPARSE,
  },
  {
    name: 'dikin-block-sum-no-barrier',
    what: 'Dikin walk: block_sum reads the warp partials without the barrier after writing them',
    file: 'polytope/dikin_walk.cu',
    old: '  if (l == 0) red[w] = v;\n  __syncthreads();\n',
    new: '  if (l == 0) red[w] = v;\n',
    test: DIKIN,
  },
  {
    name: 'dikin-cholesky-no-barrier',
    what: 'Dikin walk: the Cholesky update starts before the pivot column is scaled',
    file: 'polytope/dikin_walk.cu',
    old: 'L[i * d + k] /= lkk;\n    __syncthreads();\n',
    new: 'L[i * d + k] /= lkk;\n',
    test: DIKIN,
  },
  {
    name: 'dp-segment-sum-short',
    what: 'dp query: the lane-segment reduction starts one level too low (drops half the lanes)',
    file: 'dp/dp_query.cu',
    old: 'for (int off = seg >> 1; off > 0; off >>= 1)',
    new: 'for (int off = seg >> 2; off > 0; off >>= 1)',
    test: DP,
  },
  {
    name: 'nn-sgemm-no-barrier',
    what: 'nn SGEMM: the barrier before the next k-tile overwrites the shared tiles removed',
    file: 'nn/nn_stack.cu',
    old: 'acc[r][c] = fmaf(av[r], bv[c], acc[r][c]);\n    }\n    __syncthreads();\n',
    new: 'acc[r][c] = fmaf(av[r], bv[c], acc[r][c]);\n    }\n',
    test: NN,
  },
  {
    name: 'nn-sgemm-drops-k-tail',
    what: 'nn SGEMM: the last partial k-tile is skipped (K not a multiple of the tile)',
    file: 'nn/nn_stack.cu',
    old: 'for (int64_t k0 = 0; k0 < K; k0 += kBK) {',
    new: 'for (int64_t k0 = 0; k0 + kBK <= K; k0 += kBK) {',
    test: NN,
  },
];

if (args.includes('--list') || args.includes('--check')) {
  // --check: every pattern still matches the sources (no build).
  let bad = 0;
  for (const m of MUTANTS) {
    const ok = fs.readFileSync(path.join(root, 'cuda', m.file), 'utf8').includes(m.old);
    bad += ok ? 0 : 1;
    console.log(`${ok ? 'ok    ' : 'BROKEN'} ${m.name.padEnd(28)} ${m.file.padEnd(34)} ${m.what}`);
  }
  process.exit(bad ? 1 : 0);
}

function sh(cmd, argv, opts = {}) {
  return spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
}
function copyTree(src, dst) {
  fs.rmSync(dst, { recursive: true, force: true });
  fs.cpSync(src, dst, { recursive: true, preserveTimestamps: true });
}
function build(targets) {
  const r = sh('ninja', ['-C', buildDir, '-j2', ...targets]);
  return { ok: r.status === 0, log: (r.stdout || '') + (r.stderr || '') };
}

const started = Date.now();
const src = path.join(buildDir, 'src', 'cuda');
fs.mkdirSync(path.dirname(src), { recursive: true });
copyTree(path.join(root, 'cuda'), src);
const cfg = sh('cmake', ['-S', root, '-B', buildDir, '-G', 'Ninja', '-DLEMMA_CUDA=EMULATE', `-DLEMMA_CUDA_DIR=${src}`]);
if (cfg.status !== 0) {
  console.error(cfg.stdout + cfg.stderr);
  process.exit(1);
}
const exes = [...new Set(MUTANTS.map((m) => m.test.exe))];
const base = build(exes);
if (!base.ok) {
  console.error(base.log.slice(-4000));
  console.error('mutants: the unmutated build fails');
  process.exit(1);
}

let survived = 0, broken = 0, killed = 0;
for (const m of MUTANTS) {
  if (only && !only.includes(m.name)) continue;
  const t0 = Date.now();
  const file = path.join(src, m.file);
  const orig = fs.readFileSync(file, 'utf8');
  if (!orig.includes(m.old)) {
    console.log(`BROKEN   ${m.name}: its pattern is no longer in cuda/${m.file} (update scripts/emulated/mutants.js)`);
    broken++;
    continue;
  }
  fs.writeFileSync(file, orig.replace(m.old, m.new));
  const b = build([m.test.exe]);
  let verdict, detail;
  if (!b.ok) {
    verdict = 'KILLED';
    detail = 'does not compile';
  } else {
    const r = sh(path.join(buildDir, m.test.exe), m.test.argv, { timeout: 300_000, env: { ...process.env } });
    const out = (r.stdout || '') + (r.stderr || '');
    const last = out.trim().split('\n').filter((l) => /passed, \d+ failed/.test(l)).pop() || '';
    const fault = /lemma emulated device: fault: ([^\n]*)/.exec(out);
    if (r.status === 0) {
      verdict = 'SURVIVED';
      detail = last;
    } else {
      verdict = 'KILLED';
      detail = r.signal ? `killed by ${r.signal} (timeout)` : fault ? `device fault: ${fault[1].slice(0, 140)}` : last;
    }
  }
  // Restore (with a fresh timestamp, so the next build recompiles the unmutated file).
  fs.writeFileSync(file, orig);
  if (verdict === 'KILLED') killed++;
  else survived++;
  console.log(`${verdict.padEnd(8)} ${m.name.padEnd(28)} ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s  ${m.what}: ${detail}`);
}
console.log(`mutants: ${killed} killed, ${survived} survived, ${broken} broken patterns ` +
  `(${((Date.now() - started) / 1000).toFixed(0)} s)`);
process.exit(survived || broken ? 1 : 0);
