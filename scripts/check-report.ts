/**
 * Checks the benchmark report in a real headless browser (Debian's chromium through playwright-core;
 * no browser download):
 *   node --import tsx scripts/check-report.ts [DIR]      (default DIR lemma-report)
 * Opens DIR/index.html over file://, and fails on any console error, page error or request to
 * anything but a file: or data: URL (such requests are also blocked, so nothing leaves the machine).
 * Checks that every chart DIR/<name>.svg is inline in <figure id="name">, visible, with a non-zero
 * rendered box and marks inside it, that the table has one row per case of DIR/results.json, and
 * saves a full-page screenshot to DIR/report.png. Prints one JSON line of what it checked; exit 0
 * when everything passed, 1 otherwise.
 * The browser: LEMMA_CHROMIUM, else /usr/bin/chromium.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface ChartCheck { name: string; visible: boolean; width: number; height: number; marks: number; texts: number }

export interface ReportCheck {
  ok: boolean;
  dir: string;
  browser: string;
  failures: string[];
  charts: ChartCheck[];
  rows: number;
  expectedRows: number;
  consoleErrors: string[];
  pageErrors: string[];
  blockedRequests: string[];
  screenshot: string | null;
  ms: number;
}

export async function checkReport(dir: string, executablePath = process.env.LEMMA_CHROMIUM || '/usr/bin/chromium'): Promise<ReportCheck> {
  const t0 = performance.now();
  const out: ReportCheck = {
    ok: false, dir, browser: executablePath, failures: [], charts: [], rows: 0, expectedRows: 0,
    consoleErrors: [], pageErrors: [], blockedRequests: [], screenshot: null, ms: 0,
  };
  const fail = (m: string) => { out.failures.push(m); };
  const html = path.resolve(dir, 'index.html');
  if (!existsSync(html)) fail(`no ${html}`);
  if (!existsSync(executablePath)) fail(`no browser at ${executablePath}`);
  if (out.failures.length > 0) return finish();
  try {
    out.expectedRows = (JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as { results: unknown[] }).results.length;
  } catch (e) {
    fail(`results.json: ${(e as Error).message}`);
  }
  const expectedCharts = readdirSync(dir).filter((f) => f.endsWith('.svg')).map((f) => f.slice(0, -4)).sort();
  if (expectedCharts.length === 0) fail('no chart SVG in the directory');

  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: 60_000 });
  try {
    out.browser = `${executablePath} ${browser.version()}`;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, offline: true });
    // Block (and record) anything that would leave the file.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
      out.blockedRequests.push(url);
      return route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') out.consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => { out.pageErrors.push(e.message); });
    page.on('request', (r) => {
      const url = r.url();
      if (!url.startsWith('file:') && !url.startsWith('data:') && !out.blockedRequests.includes(url)) out.blockedRequests.push(url);
    });
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load', timeout: 30_000 });
    await page.waitForLoadState('networkidle', { timeout: 10_000 }).catch(() => undefined);

    const figures = await page.$$eval('figure.chart', (els) => els.map((f) => f.id));
    for (const name of expectedCharts) if (!figures.includes(name)) fail(`chart ${name}.svg is not inline in the page`);
    for (const name of figures) {
      const svg = page.locator(`figure#${name} > svg`);
      const n = await svg.count();
      if (n !== 1) { fail(`figure ${name}: ${n} top-level <svg>`); continue; }
      const visible = await svg.isVisible();
      const box = await svg.boundingBox();
      const inner = await svg.evaluate((el) => ({
        marks: el.querySelectorAll('[aria-roledescription]').length,
        texts: Array.from(el.querySelectorAll('text')).filter((t) => (t.textContent ?? '').trim() !== '').length,
        // Marks drawn with a non-zero box (an all-empty panel has none).
        drawn: Array.from(el.querySelectorAll('path, line, text')).filter((p) => { const r = p.getBoundingClientRect(); return r.width > 0 || r.height > 0; }).length,
      }));
      const c: ChartCheck = { name, visible, width: Math.round(box?.width ?? 0), height: Math.round(box?.height ?? 0), marks: inner.marks, texts: inner.texts };
      out.charts.push(c);
      if (!visible) fail(`chart ${name} is not visible`);
      if (!box || box.width < 50 || box.height < 50) fail(`chart ${name} renders at ${c.width}x${c.height}`);
      if (inner.marks === 0 || inner.drawn < 10) fail(`chart ${name} draws nothing (${inner.marks} marks, ${inner.drawn} drawn elements)`);
      if (inner.texts < 3) fail(`chart ${name} has ${inner.texts} text labels`);
    }
    out.rows = await page.locator('table tbody tr').count();
    if (out.rows !== out.expectedRows || out.rows === 0) fail(`table has ${out.rows} rows, results.json ${out.expectedRows}`);
    const title = await page.title();
    if (!/benchmark report/.test(title)) fail(`page title '${title}'`);
    const png = path.join(dir, 'report.png');
    await page.screenshot({ path: png, fullPage: true });
    out.screenshot = png;
    await context.close();
  } finally {
    await browser.close();
  }
  for (const e of out.consoleErrors) fail(`console error: ${e}`);
  for (const e of out.pageErrors) fail(`page error: ${e}`);
  for (const u of out.blockedRequests) fail(`request to ${u}`);
  return finish();

  function finish(): ReportCheck {
    out.ok = out.failures.length === 0;
    out.ms = Math.round(performance.now() - t0);
    return out;
  }
}

if (require.main === module) {
  const dir = process.argv[2] ?? 'lemma-report';
  checkReport(dir).then((r) => {
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exitCode = r.ok ? 0 : 1;
  }, (e: unknown) => {
    process.stdout.write(JSON.stringify({ ok: false, dir, failures: [`crashed: ${(e as Error).stack ?? String(e)}`] }) + '\n');
    process.exitCode = 1;
  });
}
