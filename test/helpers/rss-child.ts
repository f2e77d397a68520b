// Child process of test/14: forward+backward at N = 16384, D = 64, B·H = 8; prints peak RSS.
import * as lemma from '../../lib/index.js';

async function main() {
  const baselineRssBytes = process.resourceUsage().maxRSS * 1024;
  const shape = [1, 8, 16384, 64];
  const n = shape.reduce((a, b) => a * b, 1);
  const mk = (seed: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.001 * seed) ;
    return { data: a, shape };
  };
  const q = mk(1), k = mk(2), v = mk(3), dOut = mk(4);
  const f = await lemma.attention.forward(q, k, v, { causal: true });
  const g = await lemma.attention.backward({ q, k, v, out: f.out, lse: f.lse, dOut }, { causal: true });
  const arrays = [q.data, k.data, v.data, dOut.data, f.out.data, f.lse.data, g.dq.data, g.dk.data, g.dv.data];
  const ioBytes = arrays.reduce((s, a) => s + a.byteLength, 0);
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ maxRssBytes, ioBytes, baselineRssBytes }));
}
main().catch((e) => { console.error(e); process.exit(1); });
