import { constants, PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { createMemoryGovernor } from '../src/memory.js';

/** The kinds of the collections `f` makes (perf_hooks' gc entries). */
async function collections(f: () => void): Promise<number[]> {
  const kinds: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) kinds.push((e as unknown as { detail: { kind: number } }).detail.kind);
  });
  obs.observe({ entryTypes: ['gc'] });
  f();
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  return kinds;
}

describe('createMemoryGovernor', () => {
  it('collects once enough work has passed: the whole heap by default, with `young` only the young generation', async () => {
    const full = createMemoryGovernor({ everyBytes: 1000, minIntervalMs: 0 });
    const young = createMemoryGovernor({ everyBytes: 1000, minIntervalMs: 0, young: true });
    expect(await collections(() => full.tick(999))).toEqual([]);
    expect(await collections(() => full.tick(1))).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
    expect(await collections(() => young.tick(999))).toEqual([]);
    const kinds = await collections(() => young.tick(1));
    expect(kinds).toContain(constants.NODE_PERFORMANCE_GC_MINOR);
    expect(kinds).not.toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });

  it('with `young` and `majorEvery`, every majorEvery-th collection is a full one', async () => {
    const g = createMemoryGovernor({ everyBytes: 1000, minIntervalMs: 0, young: true, majorEvery: 3 });
    const majors: boolean[] = [];
    for (let i = 0; i < 6; i++) majors.push((await collections(() => g.tick(1000))).includes(constants.NODE_PERFORMANCE_GC_MAJOR));
    expect(majors).toEqual([false, false, true, false, false, true]);
  });

  it('counts a piece of large rows (over 2 MiB) four times: their buffers wait longest for a collection', async () => {
    const MiB = 1024 * 1024;
    const g = createMemoryGovernor({ everyBytes: 32 * MiB, minIntervalMs: 0 });
    // Ordinary 1 MiB pages: 31 of them do not reach 32 MiB.
    expect(await collections(() => Array.from({ length: 31 }, () => g.tick(MiB)))).toEqual([]);
    expect(await collections(() => g.tick(MiB))).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
    // Pages of 3 MiB count 12 MiB each: the third one collects, where ten would have been needed.
    expect(await collections(() => [g.tick(3 * MiB), g.tick(3 * MiB)])).toEqual([]);
    expect(await collections(() => g.tick(3 * MiB))).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });
});
