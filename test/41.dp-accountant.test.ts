/**
 * The pure-ε accountant: basic composition in exact arithmetic, refusal with ERR_BUDGET (nothing
 * charged, nothing built), the ledger, and its wiring into l1Kde / baselineL1Kde.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';

const X = { data: new Float64Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), shape: [3, 2] };

test('spend composes basically and reports remaining, spent and the ledger', (t) => {
  const acc = lemma.dp.accountant({ epsilon: 1 });
  t.is(acc.remaining, 1);
  const e1 = acc.spend(0.25, 'first');
  t.like(e1, { label: 'first', epsilon: 0.25, spentAfter: 0.25 });
  acc.spend(0.5);
  t.is(acc.spent, 0.75);
  t.is(acc.remaining, 0.25);
  t.deepEqual(acc.ledger.map((e) => [e.label, e.epsilon]), [['first', 0.25], ['unlabelled', 0.5]]);
  t.true(acc.canSpend(0.25));
  t.false(acc.canSpend(0.3));
  acc.spend(0.25, 'last crumb'); // exactly the budget: accepted
  t.is(acc.remaining, 0);
});

test('overspending is refused with ERR_BUDGET and charges nothing', (t) => {
  const acc = lemma.dp.accountant({ epsilon: 1 });
  acc.spend(0.75, 'a');
  const err = t.throws(() => acc.spend(0.5, 'b'), { instanceOf: lemma.LemmaError, message: /^privacy budget exceeded: spending ε = 0\.5 for 'b' would bring the total to 1\.25, above the budget of 1 \(remaining 0\.25\)$/ });
  t.is((err as lemma.LemmaError).code, 'ERR_BUDGET');
  t.is(acc.spent, 0.75);
  t.is(acc.ledger.length, 1);
  t.notThrows(() => acc.spend(0.25));
});

test('the arithmetic is exact: ten doubles 0.1 exceed a budget of 1, so the tenth is refused', (t) => {
  const acc = lemma.dp.accountant({ epsilon: 1 });
  for (let i = 0; i < 9; i++) acc.spend(0.1);
  // Σ of ten doubles 0.1 is 1.0000000000000000555 > 1 exactly; floating point would say 0.9999999999999999.
  t.throws(() => acc.spend(0.1), { message: /privacy budget exceeded/ });
  t.true(acc.remaining > 0.0999999 && acc.remaining < 0.1);
});

test('the ledger is a frozen copy', (t) => {
  const acc = lemma.dp.accountant({ epsilon: 1 });
  acc.spend(0.5, 'x');
  const l = acc.ledger as lemma.dp.LedgerEntry[];
  l.pop();
  t.is(acc.ledger.length, 1);
  t.throws(() => { (acc.ledger[0] as { epsilon: number }).epsilon = 0; }, { instanceOf: TypeError });
});

test('l1Kde charges its ε before building and is refused when the budget is short', async (t) => {
  const acc = lemma.dp.accountant({ epsilon: 1.5 });
  await lemma.dp.l1Kde(X, { epsilon: 1, range: 1, levels: 3, accountant: acc, label: 'kde #1' });
  t.deepEqual(acc.ledger.map((e) => [e.label, e.epsilon]), [['kde #1', 1]]);
  const err = await t.throwsAsync(lemma.dp.l1Kde(X, { epsilon: 1, range: 1, levels: 3, accountant: acc }), { instanceOf: lemma.LemmaError, message: /for 'dp\.l1Kde' would bring the total to 2, above the budget of 1\.5/ });
  t.is((err as lemma.LemmaError).code, 'ERR_BUDGET');
  t.is(acc.spent, 1);
  await lemma.dp.baselineL1Kde(X, { epsilon: 0.5, range: 1, levels: 3, accountant: acc });
  t.deepEqual(acc.ledger.map((e) => e.label), ['kde #1', 'dp.baselineL1Kde']);
  t.is(acc.remaining, 0);
});

test('invalid options are refused before anything is charged', async (t) => {
  const acc = lemma.dp.accountant({ epsilon: 1 });
  await t.throwsAsync(lemma.dp.l1Kde(X, { epsilon: 1, range: -1, levels: 3, accountant: acc }), { instanceOf: RangeError });
  await t.throwsAsync(lemma.dp.l1Kde(X, { epsilon: 1, range: 1, levels: 3, budgetSplit: 0.5, accountant: acc }), { instanceOf: RangeError });
  await t.throwsAsync(lemma.dp.l1Kde(X, { epsilon: 1, range: 1, maxRows: 0, accountant: acc }), { instanceOf: RangeError });
  t.is(acc.spent, 0);
});

const errors: Array<[string, () => unknown, new (...a: never[]) => Error, RegExp]> = [
  ['no options', () => lemma.dp.accountant(undefined as never), TypeError, /^Expected a finite number greater than 0 for options\.epsilon but received undefined/],
  ['epsilon a string', () => lemma.dp.accountant({ epsilon: '1' as never }), TypeError, /^Expected a finite number greater than 0 for options\.epsilon but received "1" of type string$/],
  ['epsilon 0', () => lemma.dp.accountant({ epsilon: 0 }), RangeError, /^Expected a finite number greater than 0 for options\.epsilon but received 0 of type number$/],
  ['epsilon Infinity', () => lemma.dp.accountant({ epsilon: Infinity }), RangeError, /for options\.epsilon but received Infinity/],
  ['spend negative', () => lemma.dp.accountant({ epsilon: 1 }).spend(-0.1), RangeError, /^Expected a finite number greater than 0 for eps but received -0\.1/],
  ['spend a string', () => lemma.dp.accountant({ epsilon: 1 }).spend('0.1' as never), TypeError, /for eps but received "0\.1" of type string$/],
  ['label a number', () => lemma.dp.accountant({ epsilon: 1 }).spend(0.1, 5 as never), TypeError, /^Expected a string for label but received 5 of type number$/],
  ['accountant not an accountant', () => lemma.dp.l1Kde(X, { epsilon: 1, range: 1, levels: 3, accountant: { spend() {} } as never }), TypeError, /^Expected an accountant from lemma\.dp\.accountant\(\) for options\.accountant but received a Object/],
];
for (const [name, fn, cls, re] of errors) {
  test(`${cls.name}: ${name}`, async (t) => {
    const run = async () => fn();
    await t.throwsAsync(run(), { instanceOf: cls, message: re });
  });
}
