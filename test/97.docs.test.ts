/**
 * Packaging and docs: the committed API reference (docs/api, written by scripts/api-docs.ts)
 * is what the generator writes today and documents every exported function; the package's
 * "exports" map serves require('lemma') and import('lemma') (the same objects) and blocks deep
 * imports; the documentation's links stay inside the repository and resolve.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lemma from '../lib/index.js';
import { ApiReader, writeApiDocs } from '../scripts/api-docs.js';

const root = path.join(__dirname, '..');
const apiDir = path.join(root, 'docs', 'api');

test('docs/api is up to date with the TSDoc comments (run `npm run docs` when this fails)', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lemma-api-docs-'));
  try {
    const written = writeApiDocs(root, tmp).sort();
    const committed = fs.readdirSync(apiDir).filter((f) => f.endsWith('.md')).sort();
    t.deepEqual(committed, written, 'the same files');
    t.true(written.includes('README.md') && written.includes('lemma.md') && written.includes('attention.md'));
    for (const f of written) {
      const fresh = fs.readFileSync(path.join(tmp, f), 'utf8');
      const old = fs.existsSync(path.join(apiDir, f)) ? fs.readFileSync(path.join(apiDir, f), 'utf8') : '';
      t.true(fresh === old, `docs/api/${f} is stale: run npm run docs`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('every runtime export of every namespace has an entry; every function and class a description', (t) => {
  const model = new ApiReader(root).collect(path.join(root, 'lib', 'index.ts'));
  const paths = model.map((ns) => ns.path);
  t.true(paths.includes('') && paths.includes('looped.subleq') && paths.includes('games.machinePenalty'));
  let functions = 0;
  for (const ns of model) {
    const runtime = (ns.path ? ns.path.split('.').reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, lemma as unknown as Record<string, unknown>) : lemma) as Record<string, unknown>;
    const where = ns.path ? `lemma.${ns.path}` : 'lemma';
    t.is(typeof runtime, 'object', `${where} exists at run time`);
    const byName = new Map(ns.entries.map((e) => [e.name, e]));
    const children = new Set(ns.namespaces.map((c) => c.split('.').pop()));
    for (const key of Object.keys(runtime)) {
      const value = runtime[key];
      if (children.has(key)) continue;
      const entry = byName.get(key);
      if (!entry) { t.fail(`${where}.${key} has no entry in the API reference`); continue; }
      if (typeof value === 'function') {
        functions++;
        t.true(entry.kind === 'function' || entry.kind === 'class', `${where}.${key} is documented as a ${entry.kind}`);
        t.true((entry.doc?.description ?? '').trim().length > 0, `${where}.${key} (${entry.source}) has a TSDoc description`);
        // Public methods of a class: each one listed, with a description.
        if (entry.kind === 'class') {
          const proto = (value as { prototype: object }).prototype;
          for (const m of Object.getOwnPropertyNames(proto)) {
            const d = Object.getOwnPropertyDescriptor(proto, m)!;
            if (m === 'constructor' || m.startsWith('_') || typeof d.value !== 'function') continue;
            const member = entry.members.find((x) => x.name === m);
            if (member?.doc?.internal) continue;
            t.true((member?.doc?.description ?? '').trim().length > 0, `${where}.${key}#${m} is documented`);
          }
        }
      }
    }
    // And nothing documented as a value that does not exist.
    for (const e of ns.entries) {
      if (e.kind === 'interface' || e.kind === 'type') continue;
      t.true(e.name in runtime, `${where}.${e.name} (documented at ${e.source}) exists at run time`);
    }
    for (const c of children) t.is(typeof runtime[c!], 'object', `${where}.${c} is a namespace at run time`);
  }
  t.true(functions >= 80, `${functions} exported functions and classes checked`);
});

function node(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the exports map: require and import resolve to the same API; deep imports are blocked', (t) => {
  const dist = path.join(root, 'dist', 'lib', 'index.js');
  if (!fs.existsSync(dist)) {
    t.fail('dist/lib/index.js is missing: build it with `npx tsc -p .` (npm ci does it through prepare)');
    return;
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown>; files: string[]; version: string };
  t.deepEqual(pkg.exports['.'], { types: './dist/lib/index.d.ts', import: './esm/index.mjs', require: './dist/lib/index.js' });
  for (const f of ['esm', 'dist/lib']) t.true(pkg.files.includes(f), `"files" ships ${f}`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lemma-exports-'));
  try {
    fs.mkdirSync(path.join(tmp, 'node_modules'));
    fs.symlinkSync(root, path.join(tmp, 'node_modules', 'lemma'), 'dir');
    const cjs = node(['-e', `
      const l = require('lemma');
      console.log(JSON.stringify({ keys: Object.keys(l), resolved: require.resolve('lemma'), version: require('lemma/package.json').version }));`], tmp);
    t.is(cjs.status, 0, cjs.stderr);
    const c = JSON.parse(cjs.stdout) as { keys: string[]; resolved: string; version: string };
    t.is(fs.realpathSync(c.resolved), fs.realpathSync(dist));
    t.is(c.version, pkg.version);
    // The built entry exports what lib/index.ts exports (a stale dist/ fails here: rebuild it).
    t.deepEqual([...c.keys].sort(), Object.keys(lemma).sort());

    const esm = node(['--input-type=module', '-e', `
      import * as ns from 'lemma';
      import lemmaDefault from 'lemma';
      import { createRequire } from 'node:module';
      const req = createRequire(process.cwd() + '/');
      const cjs = req('lemma');
      const named = Object.keys(ns).filter((k) => k !== 'default');
      const same = named.every((k) => ns[k] === cjs[k]) && lemmaDefault === cjs;
      console.log(JSON.stringify({ named, same, resolved: import.meta.resolve('lemma'), attention: typeof ns.attention.forward }));`], tmp);
    t.is(esm.status, 0, esm.stderr);
    const e = JSON.parse(esm.stdout) as { named: string[]; same: boolean; resolved: string; attention: string };
    t.deepEqual([...e.named].sort(), [...c.keys].sort(), 'import gives the same names as require');
    t.true(e.same, 'and the same objects (one copy of the package, not two)');
    t.is(fs.realpathSync(new URL(e.resolved)), fs.realpathSync(path.join(root, 'esm', 'index.mjs')));
    t.is(e.attention, 'function');

    // lemma/tfjs: the same objects through require and import, and loading it (or lemma) loads no
    // TensorFlow.js module (it is an optional peer: the user passes their own tf namespace).
    t.deepEqual(pkg.exports['./tfjs'], { types: './dist/lib/tfjs/index.d.ts', import: './esm/tfjs.mjs', require: './dist/lib/tfjs/index.js' });
    const tfjs = node(['--input-type=module', '-e', `
      import * as ns from 'lemma/tfjs';
      import { createRequire } from 'node:module';
      const req = createRequire(process.cwd() + '/');
      const cjs = req('lemma/tfjs');
      req('lemma');
      const named = Object.keys(ns).filter((k) => k !== 'default');
      const tfLoaded = Object.keys(req.cache).filter((f) => f.includes('@tensorflow'));
      console.log(JSON.stringify({ named, same: named.every((k) => ns[k] === cjs[k]), resolved: import.meta.resolve('lemma/tfjs'), tfLoaded }));`], tmp);
    t.is(tfjs.status, 0, tfjs.stderr);
    const f = JSON.parse(tfjs.stdout) as { named: string[]; same: boolean; resolved: string; tfLoaded: string[] };
    t.deepEqual(f.named, ['lemmaTf']);
    t.true(f.same, 'lemma/tfjs: import and require give the same objects');
    t.is(fs.realpathSync(new URL(f.resolved)), fs.realpathSync(path.join(root, 'esm', 'tfjs.mjs')));
    t.deepEqual(f.tfLoaded, [], 'loading lemma and lemma/tfjs loads no @tensorflow module');

    for (const deep of ['lemma/dist/lib/index.js', 'lemma/dist/lib/tensor.js', 'lemma/lib/index.ts']) {
      const r = node(['-e', `try { require(${JSON.stringify(deep)}); console.log('loaded'); } catch (e) { console.log(e.code); }`], tmp);
      t.is(r.stdout.trim(), 'ERR_PACKAGE_PATH_NOT_EXPORTED', `require('${deep}') is blocked`);
      const m = node(['--input-type=module', '-e', `try { await import(${JSON.stringify(deep)}); console.log('loaded'); } catch (e) { console.log(e.code); }`], tmp);
      t.is(m.stdout.trim(), 'ERR_PACKAGE_PATH_NOT_EXPORTED', `import('${deep}') is blocked`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

function markdownFiles(): string[] {
  const docs = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? docs(path.join(dir, d.name)) : d.name.endsWith('.md') ? [path.join(dir, d.name)] : []));
  return [path.join(root, 'README.md'), path.join(root, 'CHANGELOG.md'), ...docs(path.join(root, 'docs'))];
}

test('the README and docs/ link only inside the repository, and every link resolves', (t) => {
  const files = markdownFiles();
  t.true(files.length >= 12, `${files.length} markdown files`);
  let links = 0;
  for (const file of files) {
    const rel = path.relative(root, file);
    const text = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
    t.notRegex(text, /\/work\/|shared\/(specs|design)|\.\.\/shared/, `${rel} names no file outside the repository`);
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1];
      if (/^https?:/.test(target) || target.startsWith('#') || target.startsWith('mailto:')) continue;
      links++;
      const resolved = path.resolve(path.dirname(file), decodeURIComponent(target.split('#')[0]));
      t.false(path.relative(root, resolved).startsWith('..'), `${rel}: ${target} stays inside the repository`);
      t.true(fs.existsSync(resolved), `${rel}: ${target} exists`);
    }
  }
  t.true(links > 40, `${links} links checked`);
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const docSection = readme.indexOf('## Documentation');
  t.true(docSection > 0 && docSection < readme.indexOf('## Layout'), 'README has a Documentation section before Layout');
  for (const target of ['docs/README.md', 'docs/algorithms/', 'docs/api/', 'RELIABILITY.md', 'CHANGELOG.md']) {
    t.true(readme.slice(docSection).includes(`](${target}`), `the Documentation section links ${target}`);
  }
});

test('LICENSE (MIT) and CHANGELOG are present', (t) => {
  const license = fs.readFileSync(path.join(root, 'LICENSE'), 'utf8');
  t.regex(license, /^MIT License/);
  t.regex(license, /Copyright \(c\) 2026 the lemma authors/);
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { license: string };
  t.is(pkg.license, 'MIT');
  const changelog = fs.readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8');
  t.regex(changelog, /^# Changelog/);
  t.regex(changelog, /^## \[Unreleased\]/m);
});
