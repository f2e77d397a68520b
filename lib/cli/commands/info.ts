/** `lemma info [--json]`: version, CPU threads and SIMD level, CUDA state (loads the native addon). */
import type { Command } from '../shared.js';
import { printJson } from '../shared.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print the capabilities: version, CPU threads and SIMD level, CUDA devices')
    .option('--json', 'print lemma.capabilities() as JSON')
    .action(async (opts: { json?: boolean }) => {
      const { capabilities } = await import('../../device.js');
      const c = capabilities();
      if (opts.json) {
        printJson(c);
        return;
      }
      const simd = c.simd === c.simdSupported ? c.simd : `${c.simd} (this CPU supports ${c.simdSupported})`;
      const lines = [`lemma ${c.version}`, `cpu:  ${c.threads} threads, SIMD ${simd}`];
      const cu = c.cuda;
      if (!cu.compiled) lines.push('cuda: not compiled in (a CPU-only build)');
      else {
        const what = cu.emulated ? 'emulated device (kernels run on the CPU, for testing)' : `architectures ${cu.architectures || 'n/a'}`;
        lines.push(`cuda: compiled, ${what}, ${cu.deviceCount} usable device${cu.deviceCount === 1 ? '' : 's'}${cu.reason ? ` (${cu.reason})` : ''}`);
        for (const d of cu.devices) {
          lines.push(`      ${d.index}: ${d.name}, compute ${d.computeCapability}, ${d.multiprocessors} SMs, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB`);
        }
      }
      process.stdout.write(lines.join('\n') + '\n');
    });
}
