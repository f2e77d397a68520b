/**
 * The benchmark report in a real headless browser (Debian's chromium via playwright-core, through
 * scripts/check-report.ts): a tiny quick suite writes the report, the check opens it over file://
 * and finds every chart visible with a non-zero box, one table row per case, no console or page
 * error and no request leaving the file, and saves a screenshot; a report broken on purpose
 * (an external image, a script logging an error, a missing chart, a missing row) fails the check
 * with each fault named. Without a browser at LEMMA_CHROMIUM or /usr/bin/chromium the tests are
 * skipped (chosen at load time, the reason in their titles); CI installs chromium.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ReportCheck } from '../scripts/check-report.js';
import { CHART_NAMES } from '../lib/bench/charts.js';

const root = path.join(__dirname, '..');
const browser = process.env.LEMMA_CHROMIUM || '/usr/bin/chromium';
const haveBrowser = existsSync(browser);
const browserTest = haveBrowser ? test.serial : test.serial.skip;
const skipped = haveBrowser ? '' : ` (skipped: no Chromium at ${browser}; install Debian's chromium or set LEMMA_CHROMIUM)`;
if (!haveBrowser) console.log(`test/09b: no Chromium at ${browser}: the headless-browser checks of the report are skipped`);

interface Run { status: number | null; stdout: string; stderr: string }
function node(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-report-browser-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function parseCheck(r: Run): ReportCheck {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as ReportCheck;
}

browserTest(`the report opens in headless Chromium: every chart visible, a row per case, nothing external, a screenshot${skipped}`, async (t) => {
  const bench = await node([path.join('lib', 'cli', 'run.ts'), 'bench', '--out', path.join(dir, 'ok'), '--no-progress'], { LEMMA_BENCH_TINY: '1' });
  t.is(bench.status, 0, bench.stderr);
  const r = await node([path.join('scripts', 'check-report.ts'), path.join(dir, 'ok')]);
  const check = parseCheck(r);
  t.log(`${check.browser}: ${check.charts.length} charts, ${check.rows} rows, ${check.ms} ms`);
  t.is(r.status, 0, JSON.stringify(check.failures));
  t.true(check.ok);
  t.deepEqual(check.failures, []);
  t.deepEqual(check.charts.map((c) => c.name), [...CHART_NAMES]);
  for (const c of check.charts) {
    t.true(c.visible, c.name);
    t.true(c.width >= 300 && c.height >= 100, `${c.name} ${c.width}x${c.height}`);
    t.true(c.marks > 0 && c.texts >= 3, c.name);
  }
  const results = JSON.parse(readFileSync(path.join(dir, 'ok', 'results.json'), 'utf8')) as { results: unknown[] };
  t.is(check.rows, results.results.length);
  t.is(check.expectedRows, results.results.length);
  t.deepEqual([check.consoleErrors, check.pageErrors, check.blockedRequests], [[], [], []]);
  const png = readFileSync(path.join(dir, 'ok', 'report.png'));
  t.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  t.true(statSync(path.join(dir, 'ok', 'report.png')).size > 20_000);
  t.is(png.readUInt32BE(16), 1280, 'screenshot width: the viewport');
  t.true(png.readUInt32BE(20) > 1500, 'full page: taller than the viewport');
});

browserTest(`a broken report fails the browser check, each fault named${skipped}`, async (t) => {
  const src = path.join(dir, 'ok');
  t.true(existsSync(path.join(src, 'index.html')), 'needs the report of the test above');
  const bad = path.join(dir, 'bad');
  cpSync(src, bad, { recursive: true });
  let html = readFileSync(path.join(bad, 'index.html'), 'utf8');
  html = html.replace('</h1>', '</h1><img src="http://192.0.2.1/pixel.png" alt=""><script>console.error("boom from the page")</script>');
  html = html.replace(/<figure id="sampling" class="chart">[^]*?<\/figure>/, '');
  html = html.replace(/<tr><td>games<\/td>[^]*?<\/tr>/, '');
  writeFileSync(path.join(bad, 'index.html'), html);
  const r = await node([path.join('scripts', 'check-report.ts'), bad]);
  const check = parseCheck(r);
  t.is(r.status, 1);
  t.false(check.ok);
  const failures = check.failures.join('\n');
  t.regex(failures, /request to http:\/\/192\.0\.2\.1\/pixel\.png/);
  t.regex(failures, /console error: boom from the page/);
  t.regex(failures, /chart sampling\.svg is not inline in the page/);
  t.regex(failures, /table has \d+ rows, results\.json \d+/);
  t.is(check.rows, check.expectedRows - 1);
  // A directory without a report: a failure, not a crash.
  const none = await node([path.join('scripts', 'check-report.ts'), path.join(dir, 'nothing-here')]);
  t.is(none.status, 1);
  t.regex(parseCheck(none).failures.join('\n'), /no .*index\.html/);
});
