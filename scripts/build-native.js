#!/usr/bin/env node
// Builds the native addon (npm's install script runs this).
// cmake present: cmake-js builds CMakeLists.txt (CUDA kernels compiled in when nvcc is found;
// LEMMA_CUDA=AUTO|ON|OFF). cmake missing: node-gyp builds binding.gyp (CPU only).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const version = require(path.join(root, 'package.json')).version;

function has(cmd) {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

function run(args) {
  console.log(`[lemma] ${path.basename(args[0])} ${args.slice(1).join(' ')}`);
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: process.env });
  return r.status === 0;
}

const started = Date.now();
let ok;
if (has('cmake')) {
  const args = [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--parallel', '2', `--CDLEMMA_VERSION=${version}`];
  if (process.env.LEMMA_CUDA) args.push(`--CDLEMMA_CUDA=${process.env.LEMMA_CUDA}`);
  ok = run(args);
} else {
  console.log('[lemma] cmake not found: building the CPU-only addon with node-gyp');
  ok = run([require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild', '-j', '2']);
}
console.log(`[lemma] native build ${ok ? 'done' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(ok ? 0 : 1);
