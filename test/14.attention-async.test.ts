/**
 * Off the event loop: a long call leaves the loop turning; inputs stay alive under forced GC;
 * peak RSS of forward+backward at N = 16384 stays within the bound.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import * as lemma from '../lib/index.js';
import { gaussian, relErr } from './helpers/attention.js';

declare const gc: undefined | (() => void);

test.serial('the event loop keeps turning during a long call (timer gaps < 50 ms)', async (t) => {
  const shape = [1, 8, 4096, 64];
  const n = shape.reduce((a, b) => a * b, 1);
  const x = { data: Float32Array.from(gaussian(n, 1)), shape };
  let last = performance.now();
  let worst = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
    ticks++;
  }, 5);
  const start = performance.now();
  const f = await lemma.attention.forward(x, x, x);
  await lemma.attention.backward({ q: x, k: x, v: x, out: f.out, lse: f.lse, dOut: x });
  const elapsed = performance.now() - start;
  clearInterval(timer);
  t.log(`call took ${elapsed.toFixed(0)} ms, ${ticks} ticks, worst gap ${worst.toFixed(1)} ms`);
  t.true(elapsed > 200, 'the call must be long enough for the check to mean something');
  t.true(worst < 50, `worst timer gap ${worst} ms`);
});

test('inputs stay alive while workers run, even with no JS reference and forced GC', async (t) => {
  t.truthy(gc, 'run with --expose-gc');
  const shape = [1, 2, 200, 32];
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Float32Array.from(gaussian(n, 3));
  const expected = await lemma.attention.forward({ data: vals, shape }, { data: vals, shape }, { data: vals, shape });
  const pending = [];
  for (let i = 0; i < 16; i++) {
    pending.push(lemma.attention.forward({ data: vals.slice(), shape }, { data: vals.slice(), shape }, { data: vals.slice(), shape }));
  }
  for (let i = 0; i < 3; i++) {
    gc?.();
    new Array(50_000).fill(0).map((_, j) => ({ j }));
    await new Promise((r) => setTimeout(r, 2));
  }
  for (const r of await Promise.all(pending)) t.true(relErr(r.out.data, expected.out.data) === 0);
});

test.serial('peak RSS of forward+backward at N = 16384, D = 64, B·H = 8 < 2 × (inputs + outputs) + 64 MiB', async (t) => {
  const script = path.join(__dirname, 'helpers', 'rss-child.ts');
  const r = await promisify(execFile)(process.execPath, ['--import=tsx', script], { encoding: 'utf8', timeout: 240_000 });
  const m = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { maxRssBytes: number; ioBytes: number; baselineRssBytes: number };
  const limit = 2 * m.ioBytes + 64 * 2 ** 20;
  t.log(`peak RSS ${(m.maxRssBytes / 2 ** 20).toFixed(0)} MiB (process baseline ${(m.baselineRssBytes / 2 ** 20).toFixed(0)} MiB), inputs+outputs ${(m.ioBytes / 2 ** 20).toFixed(0)} MiB, limit ${(limit / 2 ** 20).toFixed(0)} MiB`);
  t.true(m.maxRssBytes < limit);
});
