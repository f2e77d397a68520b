/**
 * The JS part of the GPU suite, run by gpu-bundle/run.sh with the bundled node:
 *   LEMMA_ADDON=…/lemma.node node dist/bench/gpu/gpu-suite.js OUTDIR
 * Writes OUTDIR/js-suite.json and prints one line per check and `N passed, N failed`.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as lemma from '../../lib/index.js';
import { runChecks } from './device-checks.js';

async function main() {
  const outDir = process.argv[2] ?? '.';
  const caps = lemma.capabilities();
  console.log(JSON.stringify(caps));
  if (!lemma.cudaAvailable()) {
    console.log(`no usable GPU: ${caps.cuda.reason}`);
    console.log('0 passed, 0 failed, 3 skipped');
    fs.writeFileSync(path.join(outDir, 'js-suite.json'), JSON.stringify({ capabilities: caps, skipped: caps.cuda.reason }, null, 1));
    return;
  }
  const results = await runChecks();
  for (const r of results) console.log(`${r.failures.length ? 'FAIL' : 'ok  '} ${r.name} (${r.ms} ms)${r.failures.map((x) => `\n     ${x}`).join('')}`);
  const failed = results.filter((r) => r.failures.length).length;
  fs.writeFileSync(path.join(outDir, 'js-suite.json'), JSON.stringify({ capabilities: caps, results }, null, 1));
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => { console.error(e); process.exit(1); });
