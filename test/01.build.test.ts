/**
 * The package itself: both build files list the same CPU sources, capabilities() reports the
 * build truthfully, and the README keeps its two fresh-machine commands.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import * as lemma from '../lib/index.js';
import { native } from '../lib/binding.js';

const root = path.join(__dirname, '..');

function cmakeList(name: string): string[] {
  const text = fs.readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
  const m = new RegExp(`set\\(${name}\\s+([^)]*)\\)`).exec(text);
  if (!m) throw new Error(`${name} not found in CMakeLists.txt`);
  return m[1].split(/\s+/).filter((s) => s.endsWith('.cc'));
}

const cpuAddonSources = () => [...cmakeList('LEMMA_CPU_SOURCES'), ...cmakeList('LEMMA_NAPI_SOURCES'), ...cmakeList('LEMMA_CUDA_STUB_SOURCES')];

test('binding.gyp lists exactly the sources of the CMake CPU-only addon', (t) => {
  const gyp = JSON.parse(fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8')) as { targets: Array<{ sources: string[] }> };
  const gypSources = gyp.targets.flatMap((x) => x.sources).sort();
  const cmake = cpuAddonSources().sort();
  t.deepEqual(gypSources, cmake);
  for (const f of cmake) t.true(fs.existsSync(path.join(root, f)), `${f} exists`);
});

test('every native .cc under native/ is built', (t) => {
  const listed = new Set(cpuAddonSources());
  const walk = (dir: string): string[] => fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(`${dir}/${e.name}`) : e.name.endsWith('.cc') ? [`${dir}/${e.name}`] : []));
  for (const f of walk('native')) t.true(listed.has(f), `${f} is in CMakeLists.txt`);
});

test('capabilities() describes this build', (t) => {
  const c = lemma.capabilities();
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  t.is(c.version, pkg.version);
  // The addon's compiled-in version (LEMMA_VERSION at build time): a stale build fails here.
  t.is(native.capabilities().nativeVersion, pkg.version, 'the addon was built from this package version');
  t.true(Number.isInteger(c.threads) && c.threads >= 1);
  t.true(['avx512', 'avx2', 'scalar'].includes(c.simd));
  t.is(typeof c.cuda.compiled, 'boolean');
  t.true(c.cuda.deviceCount >= 0);
  if (c.cuda.deviceCount === 0) t.true(c.cuda.reason.length > 0, 'says why no GPU is usable');
  t.is(c.cuda.devices.length, c.cuda.deviceCount);
  t.log(JSON.stringify(c));
});

test('the README opens with the two fresh-machine commands', (t) => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const head = readme.split('\n').slice(0, 30).join('\n');
  t.regex(head, /npm install && npm start/);
  t.regex(head, /npm test/);
});
