/**
 * The native C++ test executables (test/native/*_test.cc, built by CMake next to the addon):
 * the fast CPU kernels against the fp64 oracle at every SIMD level, without Node in the loop.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '..');
const sources = fs.readdirSync(path.join(root, 'test', 'native')).filter((f) => f.endsWith('_test.cc'));

function findExecutable(name: string): string | undefined {
  for (const dir of ['build/Release', 'build', 'build/Debug']) {
    const p = path.join(root, dir, name);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

// A CMake build makes every test executable; only a build without CMake (node-gyp, binding.gyp:
// the addon alone) has none, and then the tests are skipped, not passed.
const cmakeBuild = fs.existsSync(path.join(root, 'build', 'CMakeCache.txt'));

for (const src of sources) {
  const name = src.replace(/\.cc$/, '');
  const exe = findExecutable(name);
  if (!exe && cmakeBuild) {
    test(`native: ${name}`, (t) => t.fail(`build/CMakeCache.txt exists but the executable ${name} is missing: rebuild (cmake --build build)`));
    continue;
  }
  (exe ? test : test.skip)(`native: ${name}`, (t) => {
    const r = spawnSync(exe as string, [], { encoding: 'utf8', timeout: 240_000 });
    const lines = (r.stdout ?? '').trim().split('\n');
    t.log(lines.slice(-3).join('\n'));
    t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
    t.regex(lines[lines.length - 1] ?? '', /^\d+ passed, 0 failed/);
  });
}
