#!/usr/bin/env node
// npm run gpu:bundle — writes gpu-bundle/, everything a GPU host needs to run lemma's GPU suite
// without a Node toolchain or a compiler (any machine with nvcc can build it; no GPU needed):
//   node.xz            this node binary, xz-compressed (run.sh unpacks it to a temp dir)
//   lemma.node         the CUDA-enabled addon (cmake-js, build-gpu/, LEMMA_CUDA=ON)
//   bin/               attention_cuda_test, attention_cuda_bench, tensor_core_selftest, and the other
//                      families' native CUDA tests (sparse, polytope, dp, nn) (native, stripped, xz'd)
//   tensor_core_selftest.golden   the emulator's registers for the self-test (test/emulate/)
//   dist/              compiled JS: lib/, test/gpu/, test/helpers/, bench/gpu/ and
//                      examples/train-transformer/ (tsc --outDir build-gpu/dist)
//   node_modules/      the runtime dependencies of dist/lib (bindings, file-uri-to-path)
//   bench/torch_sdpa.py, run.sh, summary.js, package.json
// Usage: node scripts/gpu-bundle.js [--skip-build] [--out DIR]   (then: bash DIR/run.sh OUTDIR)
// --skip-build reuses build-gpu/ as it is. The bundle must stay under 64 MiB (checked).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const skipBuild = args.includes('--skip-build');
const outArg = args.indexOf('--out');
const bundle = path.resolve(root, outArg >= 0 ? args[outArg + 1] : 'gpu-bundle');
const buildDir = path.join(root, 'build-gpu');
const version = require(path.join(root, 'package.json')).version;
const LIMIT = 64 * 1024 * 1024;
const started = Date.now();

function step(msg) {
  console.log(`[gpu-bundle ${((Date.now() - started) / 1000).toFixed(0)}s] ${msg}`);
}
function run(cmd, argv, opts = {}) {
  step(`${path.basename(cmd)} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: process.env, ...opts });
  return r.status === 0;
}
function fail(msg) {
  console.error(`[gpu-bundle] FAILED: ${msg}`);
  process.exit(1);
}
function copy(src, dst) {
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.cpSync(src, dst, { recursive: true, dereference: true });
}
function du(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((s, f) => s + du(path.join(p, f)), 0);
}

// 1. Native: the CUDA addon and the native GPU executables.
if (!skipBuild) {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const ok = run(process.execPath, [cmakeJs, 'build', '--out', 'build-gpu', '--CDLEMMA_CUDA=ON',
    `--CDLEMMA_VERSION=${version}`, '--parallel', '2']);
  if (!ok) fail('the CUDA build failed (see above)');
}
const addon = path.join(buildDir, 'Release', 'lemma.node');
const exes = ['attention_cuda_test', 'attention_cuda_bench', 'tensor_core_selftest'].map((e) => path.join(buildDir, e));
for (const f of [addon, ...exes]) if (!fs.existsSync(f)) fail(`missing ${path.relative(root, f)} (build with LEMMA_CUDA=ON)`);
// The other families' native CUDA tests (run.sh runs each one it finds).
const familyTests = ['sparse_attention_cuda_test', 'polytope_cuda_test', 'dp_cuda_test', 'nn_cuda_test']
  .map((e) => path.join(buildDir, e)).filter((f) => fs.existsSync(f));
exes.push(...familyTests);

// 2. TypeScript -> build-gpu/dist (never touches the shared dist/).
const distOut = path.join(buildDir, 'dist');
const tsc = path.join(root, 'node_modules', '.bin', 'tsc');
if (!run(tsc, ['-p', '.', '--outDir', distOut])) {
  step('tsc reported errors; using what it emitted');
}
let dist = distOut;
if (!fs.existsSync(path.join(dist, 'lib', 'index.js'))) {
  if (fs.existsSync(path.join(root, 'dist', 'lib', 'index.js'))) {
    step('using the existing dist/');
    dist = path.join(root, 'dist');
  } else {
    fail('no compiled JS (tsc emitted no lib/index.js and dist/ is empty)');
  }
}

// 3. Assemble.
fs.rmSync(bundle, { recursive: true, force: true });
fs.mkdirSync(path.join(bundle, 'bin'), { recursive: true });
copy(addon, path.join(bundle, 'lemma.node'));
for (const e of exes) {
  const dst = path.join(bundle, 'bin', path.basename(e));
  copy(e, dst);
  spawnSync('strip', ['--strip-unneeded', dst], { stdio: 'ignore' });  // best effort
  // xz'd like the node binary (each test links the CUDA kernels' fat binaries): run.sh unpacks them.
  const z = spawnSync('xz', ['-T2', '-6', '-f', dst]);
  if (z.status !== 0) fail(`xz ${path.basename(dst)} failed: is xz installed?`);
}
copy(path.join(dist, 'lib'), path.join(bundle, 'dist', 'lib'));
for (const sub of ['test/gpu', 'test/helpers', 'bench/gpu', 'examples/train-transformer']) {
  const p = path.join(dist, sub);
  if (fs.existsSync(p)) copy(p, path.join(bundle, 'dist', sub));
}
// The GPU tests are ava files; the bundle carries a minimal ava stand-in to run them.
copy(path.join(root, 'scripts', 'gpu-bundle', 'ava-shim.js'), path.join(bundle, 'node_modules', 'ava', 'index.js'));
for (const dep of ['bindings', 'file-uri-to-path']) {
  const p = path.join(root, 'node_modules', dep);
  if (fs.existsSync(p)) copy(p, path.join(bundle, 'node_modules', dep));
}
const pkg = require(path.join(root, 'package.json'));
fs.writeFileSync(path.join(bundle, 'package.json'),
  JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: 'commonjs' }, null, 2) + '\n');
// The emulated build's answer to the tensor-core self-test: run.sh checks this GPU reproduces it.
copy(path.join(root, 'test', 'emulate', 'tensor_core_selftest.golden'), path.join(bundle, 'tensor_core_selftest.golden'));
copy(path.join(root, 'bench', 'gpu', 'torch_sdpa.py'), path.join(bundle, 'bench', 'torch_sdpa.py'));
copy(path.join(root, 'scripts', 'gpu-bundle', 'run.sh'), path.join(bundle, 'run.sh'));
copy(path.join(root, 'scripts', 'gpu-bundle', 'summary.js'), path.join(bundle, 'summary.js'));
fs.chmodSync(path.join(bundle, 'run.sh'), 0o755);

step(`compressing ${process.execPath} (xz -T2)`);
const xz = spawnSync('xz', ['-T2', '-6', '-c', process.execPath], { maxBuffer: 512 * 1024 * 1024 });
if (xz.status !== 0) fail('xz failed: is xz installed?');
fs.writeFileSync(path.join(bundle, 'node.xz'), xz.stdout);

const size = du(bundle);
step(`wrote ${path.relative(root, bundle)}/: ${(size / 1048576).toFixed(1)} MiB`);
if (size >= LIMIT) fail(`the bundle is ${(size / 1048576).toFixed(1)} MiB, over the 64 MiB limit`);
console.log(`[gpu-bundle] done in ${((Date.now() - started) / 1000).toFixed(0)} s; run on a GPU host: bash ${path.relative(root, bundle)}/run.sh OUTDIR`);
