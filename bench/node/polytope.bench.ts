/**
 * npm run bench:polytope — the Dikin-walk benchmark (lib/bench/polytope.ts): chain-steps/s and
 * min-ESS/s on the cube, the simplex and a random polytope, d ∈ {10, 50, 100, 200}, dense A,
 * 1 and 2 threads (one chain per thread), with the scalar fp64 oracle and every SIMD level
 * measured in the same run at d = 100, one JSON line per configuration. See lib/bench/polytope.ts
 * for the walk and the reference figures (PolytopeWalk, volesti).
 *   node --import tsx bench/node/polytope.bench.ts [--quick] [--seconds S] [--gpu]
 * --gpu: CUDA with C ∈ {1, 16, 256, 1024, 4096, 16384} chains (skipped with the reason when no
 * GPU is usable). Writes bench/results/polytope-cpu-<cpu>.jsonl (and polytope-gpu-<gpu>.jsonl).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { capabilities } from '../../lib/index.js';
import { dikinSizes, runDikinBench } from '../../lib/bench/polytope.js';
import { cpuSlug } from '../../lib/bench/results.js';

async function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const gpu = args.includes('--gpu');
  const si = args.indexOf('--seconds');
  const opts = { quick, full: !quick, gpu, seconds: si >= 0 ? Number(args[si + 1]) : undefined };
  const { seconds, reps } = dikinSizes(opts);
  const caps = capabilities();
  const cpu = os.cpus()[0]?.model ?? 'unknown-cpu';
  const machine = { machine: { cpu, cores: os.cpus().length, node: process.version, simd: caps.simd, date: new Date().toISOString(), quick, seconds, reps,
    walk: 'uniform, log barrier, exact Hessian, alpha = 0.25/d (r = 0.5), lazy = false, dense A, one chain per thread',
    reference: 'issue (not re-measured): PolytopeWalk 1300 steps/s cube d=100, 1800 simplex d=100; volesti 345 / 179; one thread' } };
  const lines: string[] = [JSON.stringify(machine)];
  await runDikinBench({ ...opts, log: (l) => { console.log(l); lines.push(l); } });
  const suite = gpu ? `gpu-${(caps.cuda.devices[0]?.name ?? 'none').replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()}` : `cpu-${cpuSlug()}`;
  const file = path.join(__dirname, '..', 'results', `polytope-${suite}${quick ? '-quick' : ''}.jsonl`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, lines.join('\n') + '\n');
  console.log(`wrote ${lines.length - 1} lines to ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
