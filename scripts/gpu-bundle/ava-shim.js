'use strict';
// A minimal stand-in for ava, installed as gpu-bundle/node_modules/ava so the compiled GPU
// tests (dist/test/gpu/*.test.js) run on a GPU host that has the bundled node but no test
// runner. It supports what those files use: test(), test.serial(), test.skip(), and
// t.is / true / deepEqual / log / pass / throwsAsync. Tests run one at a time, in order; the
// process prints one line per test and `N passed, N failed, N skipped`, and exits 1 on failure.
const assert = require('node:assert');

const queue = [];
let scheduled = false;

function schedule() {
  if (scheduled) return;
  scheduled = true;
  setImmediate(runAll);
}

function register(name, fn, skip) {
  queue.push({ name, fn, skip });
  schedule();
}

function context(logs) {
  return {
    is: (a, b, msg) => assert.ok(Object.is(a, b), msg || `expected ${String(b)}, got ${String(a)}`),
    true: (v, msg) => assert.ok(v === true, msg || 'expected true'),
    deepEqual: (a, b, msg) => assert.deepStrictEqual(a, b, msg),
    log: (...args) => logs.push(args.map(String).join(' ')),
    pass: () => {},
    throwsAsync: async (p, expect = {}) => {
      let err;
      try {
        await (typeof p === 'function' ? p() : p);
      } catch (e) {
        err = e;
      }
      assert.ok(err !== undefined, 'expected a rejection');
      if (expect.instanceOf) assert.ok(err instanceof expect.instanceOf, `expected ${expect.instanceOf.name}`);
      if (expect.message) assert.match(String(err && err.message), expect.message);
      if (expect.code) assert.strictEqual(err && err.code, expect.code);
      return err;
    },
  };
}

async function runAll() {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const { name, fn, skip } of queue) {
    if (skip) {
      skipped++;
      console.log(`skip ${name}`);
      continue;
    }
    const logs = [];
    const t0 = Date.now();
    try {
      await fn(context(logs));
      passed++;
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name} (${Date.now() - t0} ms)\n     ${String(e && e.stack ? e.stack : e).split('\n').join('\n     ')}`);
    }
    for (const l of logs) console.log(`     ${l}`);
  }
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exitCode = failed ? 1 : 0;
}

const test = (name, fn) => register(name, fn, false);
test.serial = test;
test.skip = (name, fn) => register(name, fn, true);
module.exports = test;
module.exports.default = test;
