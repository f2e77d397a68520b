/**
 * RSS measurement for the leak suite (test/91): needs --expose-gc (ava's nodeArguments pass it).
 */
const gc = (globalThis as { gc?: () => void }).gc;

export const MB = 1024 * 1024;

/** True when the process was started with --expose-gc. */
export const canGc = typeof gc === 'function';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * RSS after full collections, with event-loop turns between them so that finalizers queued by a
 * collection (N-API finalizers run after it) get to run and free their native memory.
 */
export async function settledRss(rounds = 4): Promise<number> {
  if (!gc) throw new Error('settledRss needs node --expose-gc');
  for (let i = 0; i < rounds; i++) {
    gc();
    await turn();
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
  }
  return process.memoryUsage().rss;
}

export interface Growth {
  /** RSS growth over the measured cycles, bytes (after gc on both ends). */
  growth: number;
  /** RSS when measuring started (after the warm-up), bytes. */
  start: number;
  seconds: number;
  /** Growth of the first measured block when a second one was needed (it grew past the bound); else null. */
  firstGrowth: number | null;
}

/**
 * Runs `cycle` `warmUp` times, then measures RSS growth over `cycles` more. A real leak grows with
 * every block, so when the first block grew past `bound` a second, equal block is measured and
 * its growth reported instead (allocator and heap sizing settle once; a leak does not).
 */
export async function rssGrowth(cycle: () => unknown, warmUp: number, cycles: number, bound: number): Promise<Growth> {
  const t0 = performance.now();
  for (let i = 0; i < warmUp; i++) await cycle();
  const block = async () => {
    const start = await settledRss();
    for (let i = 0; i < cycles; i++) await cycle();
    return { start, growth: (await settledRss()) - start };
  };
  let r = await block();
  let firstGrowth: number | null = null;
  if (r.growth >= bound) {
    firstGrowth = r.growth;
    r = await block();
  }
  return { ...r, seconds: (performance.now() - t0) / 1000, firstGrowth };
}

export const fmtMB = (bytes: number) => `${(bytes / MB).toFixed(2)} MB`;
