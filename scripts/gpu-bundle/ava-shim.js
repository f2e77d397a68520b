'use strict';
// A minimal stand-in for ava, installed as gpu-bundle/node_modules/ava so the compiled GPU
// tests (dist/test/gpu/*.test.js) run on a GPU host that has the bundled node but no test
// runner. It supports what those files use: test(), test.serial(), test.skip(), and
// t.is / not / true / false / truthy / falsy / regex / deepEqual / log / pass / fail / throws /
// throwsAsync. Tests run one at a time, in order; the
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

// ava's expectation object for t.throws / t.throwsAsync: instanceOf, name, code, message (a
// string, compared exactly, or a RegExp), is.
function checkError(err, expect = {}) {
  assert.ok(err !== undefined, 'expected an error');
  if (expect.instanceOf) assert.ok(err instanceof expect.instanceOf, `expected ${expect.instanceOf.name}, got ${err && err.name}`);
  if (expect.name !== undefined) assert.strictEqual(err && err.name, expect.name);
  if (expect.code !== undefined) assert.strictEqual(err && err.code, expect.code);
  if (expect.is !== undefined) assert.ok(err === expect.is, 'expected the very error given');
  if (expect.message instanceof RegExp) assert.match(String(err && err.message), expect.message);
  else if (expect.message !== undefined) assert.strictEqual(String(err && err.message), expect.message);
  return err;
}

function context(logs) {
  return {
    is: (a, b, msg) => assert.ok(Object.is(a, b), msg || `expected ${String(b)}, got ${String(a)}`),
    not: (a, b, msg) => assert.ok(!Object.is(a, b), msg || `expected a value other than ${String(b)}`),
    true: (v, msg) => assert.ok(v === true, msg || 'expected true'),
    false: (v, msg) => assert.ok(v === false, msg || 'expected false'),
    truthy: (v, msg) => assert.ok(v, msg || 'expected a truthy value'),
    falsy: (v, msg) => assert.ok(!v, msg || 'expected a falsy value'),
    regex: (s, re, msg) => assert.match(String(s), re, msg),
    deepEqual: (a, b, msg) => assert.deepStrictEqual(a, b, msg),
    log: (...args) => logs.push(args.map(String).join(' ')),
    pass: () => {},
    fail: (msg) => assert.fail(msg || 'failed'),
    throws: (fn, expect) => {
      let err;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      return checkError(err, expect);
    },
    throwsAsync: async (p, expect) => {
      let err;
      try {
        await (typeof p === 'function' ? p() : p);
      } catch (e) {
        err = e;
      }
      return checkError(err, expect);
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
