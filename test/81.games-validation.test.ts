/**
 * lemma.games.machinePenalty: every validation message by regex (simulate, play, the agent
 * factories), payoffs that are not a prisoner's dilemma, and malformed agent answers.
 */
import test from 'ava';
import { machinePenalty as mp } from '../lib/games/index.js';
import type { Agent } from '../lib/games/machine-penalty/index.js';

const ok: Agent = { message: () => ({ promise: 'C' }), decide: () => 'C' };
const sim = (o: unknown) => mp.simulate({ perCondition: 2, seed: 1, ...(o as object) });

test('unknown option names are refused with the nearest valid name', async (t) => {
  await t.throwsAsync(mp.simulate({ perConditon: 2 } as never), { instanceOf: TypeError, message: /^Expected a known option name \(did you mean 'perCondition'\?\) for options but received "perConditon" of type string$/ });
  await t.throwsAsync(mp.simulate({ seeed: 1 } as never), { instanceOf: TypeError, message: /did you mean 'seed'\?/ });
  await t.throwsAsync(mp.simulate({ timeout: 10 } as never), { instanceOf: TypeError, message: /did you mean 'agentTimeout'\?/ });
  await t.throwsAsync(sim({ humanModel: { nrom: 1 } }), { instanceOf: TypeError, message: /^Expected a known option name \(did you mean 'norm'\?\) for options\.humanModel but received "nrom" of type string$/ });
  await t.throwsAsync(sim({ payoff: { T: 5, R: 3, P: 1, s: 0 } }), { instanceOf: TypeError, message: /did you mean 'S'\?\) for options\.payoff/ });
  await t.throwsAsync(sim({ conditions: [{ name: 'x', agnet: ok }] }), { instanceOf: TypeError, message: /did you mean 'agent'\?\) for options\.conditions\[0\]/ });
  await t.throwsAsync(mp.play(ok, ok, { round: 3 } as never), { instanceOf: TypeError, message: /did you mean 'rounds'\?/ });
  t.throws(() => mp.fair({ forgiv: 1 } as never), { instanceOf: TypeError, message: /did you mean 'forgive'\?\) for params/ });
  await t.throwsAsync(mp.simulate(5 as never), { instanceOf: TypeError, message: /^Expected an options object for options but received 5 of type number$/ });
});

test("payoffs that are not a prisoner's dilemma are refused, naming the rule that fails", async (t) => {
  const pd = /^Expected a prisoner's dilemma \(T > R > P > S and 2R > T \+ S\) for options\.payoff but received /;
  const cases: Array<[Record<string, number>, RegExp]> = [
    [{ T: 3, R: 3, P: 1, S: 0 }, /T = 3, R = 3, P = 1, S = 0, which fails T > R$/],
    [{ T: 4, R: 3, P: 3, S: 1 }, /which fails R > P$/],
    [{ T: 4, R: 3, P: 1, S: 1 }, /which fails P > S$/],
    [{ T: 10, R: 3, P: 1, S: 0 }, /which fails 2R > T \+ S$/],
    [{ T: 0, R: 1, P: 3, S: 5 }, /which fails T > R, R > P, P > S, 2R > T \+ S$/],
  ];
  for (const [payoff, rule] of cases) {
    const e = await t.throwsAsync(sim({ payoff }), { instanceOf: RangeError, message: pd });
    t.regex(e!.message, rule);
    await t.throwsAsync(mp.play(ok, ok, { payoff: payoff as never }), { instanceOf: RangeError, message: rule });
  }
  await t.throwsAsync(sim({ payoff: { T: 5, R: 3, P: 1 } }), { instanceOf: TypeError, message: /^Expected a finite number for options\.payoff\.S but received undefined of type undefined$/ });
  await t.throwsAsync(sim({ payoff: { T: 5, R: 3, P: NaN, S: 0 } }), { instanceOf: RangeError, message: /^Expected a finite number for options\.payoff\.P but received NaN of type number$/ });
  await t.throwsAsync(sim({ payoff: [5, 3, 1, 0] }), { instanceOf: TypeError, message: /^Expected an options object for options\.payoff/ });
  const r = await sim({ payoff: { T: 4, R: 3, P: 1, S: 0.5 }, conditions: ['fair'] });
  t.deepEqual(r.payoff, { T: 4, R: 3, P: 1, S: 0.5 });
});

test('conditions: names, custom agents, duplicates', async (t) => {
  await t.throwsAsync(sim({ conditions: 'fair' }), { instanceOf: TypeError, message: /^Expected an array of condition names .* for options\.conditions but received "fair" of type string$/ });
  await t.throwsAsync(sim({ conditions: [] }), { instanceOf: RangeError, message: /1 to 64 of them for options\.conditions/ });
  await t.throwsAsync(sim({ conditions: ['fair', 'robot'] }), { instanceOf: RangeError, message: /^Expected one of 'human', 'cooperative', 'selfish', 'fair' for options\.conditions\[1\] but received "robot"/ });
  await t.throwsAsync(sim({ conditions: ['fair', 'fair'] }), { instanceOf: RangeError, message: /^Expected a condition name not used before for options\.conditions\[1\] but received "fair"/ });
  await t.throwsAsync(sim({ conditions: ['fair', { name: 'fair', agent: ok }] }), { instanceOf: RangeError, message: /for options\.conditions\[1\]\.name but received "fair"/ });
  await t.throwsAsync(sim({ conditions: [{ name: 'x', agent: { message: () => ({ promise: 'C' }) } }] }), { instanceOf: TypeError, message: /^Expected an agent \{ message\(state\), decide\(state\) \} \(decide is not a function\) for options\.conditions\[0\]\.agent/ });
  await t.throwsAsync(sim({ conditions: [{ name: 'x' }] }), { instanceOf: TypeError, message: /for options\.conditions\[0\]\.agent but received undefined/ });
  await t.throwsAsync(sim({ conditions: [{ name: '', agent: ok }] }), { instanceOf: RangeError, message: /^Expected a name of 1 to 64 characters for options\.conditions\[0\]\.name/ });
  await t.throwsAsync(sim({ conditions: [{ name: 3, agent: ok }] }), { instanceOf: TypeError, message: /^Expected a string for options\.conditions\[0\]\.name/ });
  await t.throwsAsync(sim({ conditions: [7] }), { instanceOf: TypeError, message: /^Expected a condition name or \{ name, agent \} for options\.conditions\[0\]/ });
});

test('sizes, numbers and callbacks', async (t) => {
  await t.throwsAsync(sim({ perCondition: 3 }), { instanceOf: RangeError, message: /^Expected an even integer \(the 'human' condition pairs its participants\) for options\.perCondition but received 3 of type number$/ });
  t.is((await sim({ perCondition: 3, conditions: ['fair'] })).conditions[0].participants, 3, 'odd is fine without the human condition');
  await t.throwsAsync(sim({ perCondition: 0 }), { instanceOf: RangeError, message: /^Expected an integer between 1 and 1000000 for options\.perCondition but received 0/ });
  await t.throwsAsync(sim({ perCondition: '10' }), { instanceOf: TypeError, message: /for options\.perCondition but received "10" of type string$/ });
  await t.throwsAsync(sim({ rounds: 0 }), { instanceOf: RangeError, message: /^Expected an integer between 1 and 1000 for options\.rounds/ });
  await t.throwsAsync(sim({ seed: -1 }), { instanceOf: RangeError, message: /for options\.seed but received -1/ });
  await t.throwsAsync(sim({ seed: 1.5 }), { instanceOf: RangeError, message: /for options\.seed but received 1\.5/ });
  await t.throwsAsync(sim({ seed: '1' }), { instanceOf: TypeError, message: /for options\.seed/ });
  await t.throwsAsync(sim({ agentTimeout: 0 }), { instanceOf: RangeError, message: /^Expected a number of milliseconds in \(0, 2147483647\], or Infinity for no limit for options\.agentTimeout but received 0/ });
  await t.throwsAsync(sim({ agentTimeout: 2 ** 31 }), { instanceOf: RangeError, message: /options\.agentTimeout/ });
  await t.throwsAsync(sim({ agentTimeout: '5' }), { instanceOf: TypeError, message: /options\.agentTimeout/ });
  await t.throwsAsync(sim({ agentRetries: 11 }), { instanceOf: RangeError, message: /^Expected an integer between 0 and 10 for options\.agentRetries/ });
  await t.throwsAsync(sim({ onAgentError: 'ignore' }), { instanceOf: RangeError, message: /^Expected one of 'record', 'throw' for options\.onAgentError but received "ignore"/ });
  await t.throwsAsync(sim({ concurrency: 0 }), { instanceOf: RangeError, message: /for options\.concurrency/ });
  await t.throwsAsync(sim({ keepHistories: 'yes' }), { instanceOf: TypeError, message: /^Expected a boolean for options\.keepHistories/ });
  await t.throwsAsync(sim({ signal: {} }), { instanceOf: TypeError, message: /^Expected an AbortSignal for options\.signal/ });
  await t.throwsAsync(sim({ onProgress: 1 }), { instanceOf: TypeError, message: /^Expected a function for options\.onProgress/ });
  await t.throwsAsync(sim({ humanModel: { interceptSd: -1 } }), { instanceOf: RangeError, message: /^Expected a finite number at least 0 for options\.humanModel\.interceptSd but received -1/ });
  await t.throwsAsync(sim({ humanModel: { promiseRate: 2 } }), { instanceOf: RangeError, message: /^Expected a finite number between 0 and 1 for options\.humanModel\.promiseRate/ });
  await t.throwsAsync(sim({ humanModel: { norm: Infinity } }), { instanceOf: RangeError, message: /for options\.humanModel\.norm but received Infinity/ });
  const r = await sim({ humanModel: { machineDiscount: 0.5 }, conditions: ['fair'] });
  t.is(r.humanModel.machineDiscount, 0.5);
  t.is(r.humanModel.norm, 2, 'the rest keeps its defaults');
});

test('agent factories and play validate their arguments', async (t) => {
  t.throws(() => mp.selfish({ rebait: 2 }), { instanceOf: RangeError, message: /^Expected a finite number between 0 and 1 for params\.rebait but received 2/ });
  t.throws(() => mp.fair({ lapse: '0' as never }), { instanceOf: TypeError, message: /for params\.lapse/ });
  t.throws(() => mp.simulatedHuman({ endGame: NaN }), { instanceOf: RangeError, message: /for model\.endGame/ });
  await t.throwsAsync(mp.play({} as never, ok), { instanceOf: TypeError, message: /^Expected an agent \{ message\(state\), decide\(state\) \} \(message is not a function\) for first/ });
  await t.throwsAsync(mp.play(ok, null as never), { instanceOf: TypeError, message: /for second but received null/ });
  await t.throwsAsync(mp.play(ok, ok, { machine: [true] as never }), { instanceOf: TypeError, message: /^Expected a pair of booleans for options\.machine/ });
  await t.throwsAsync(mp.play(ok, ok, { machine: [true, 1] as never }), { instanceOf: TypeError, message: /^Expected a boolean for options\.machine\[1\]/ });
});

test('malformed agent answers are failures of that round', async (t) => {
  const badMessage: Agent = { message: () => ({ promise: 'yes' }) as never, decide: () => 'C' };
  const badText: Agent = { message: () => ({ promise: 'C', text: 5 }) as never, decide: () => 'C' };
  const lower: Agent = { message: () => ({ promise: 'C' }), decide: () => 'c' as never };
  const r = await mp.simulate({ perCondition: 1, seed: 1, conditions: [{ name: 'm', agent: badMessage }, { name: 't', agent: badText }, { name: 'd', agent: lower }] });
  t.deepEqual(r.errors.map((e) => [e.condition, e.round, e.phase]), [['m', 0, 'message'], ['t', 0, 'message'], ['d', 1, 'decide']]);
  t.regex(r.errors[0].message, /^message returned \{"promise":"yes"\}; expected \{ promise: 'C' \| 'D' \| 'none', text\?: string \}$/);
  t.regex(r.errors[1].message, /^message returned \{"promise":"C","text":5\}; expected/);
  t.regex(r.errors[2].message, /^decide returned "c"; expected 'C' or 'D'$/);
  const thrower: Agent = { message: () => { throw 'not an Error'; }, decide: () => 'C' };
  const r2 = await mp.simulate({ perCondition: 1, seed: 1, conditions: [{ name: 'x', agent: thrower }] });
  t.regex(r2.errors[0].message, /^threw "not an Error"$/);
});
