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

  it('counts a piece of large rows (over 2 MiB) by its bytes towards `everyBytes`, like any other', async () => {
    const MiB = 1024 * 1024;
    const g = createMemoryGovernor({ everyBytes: 16 * MiB, minIntervalMs: 0 });
    // Ordinary 1 MiB pages: 15 of them do not reach 16 MiB.
    expect(await collections(() => Array.from({ length: 15 }, () => g.tick(MiB)))).toEqual([]);
    expect(await collections(() => g.tick(MiB))).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
    // Two pieces of 2.5 MiB and 10 MiB of ordinary ones: 15 MiB, and 5 MiB of large pieces (under LARGE_COLLECT).
    expect(await collections(() => [g.tick(2.5 * MiB), g.tick(2.5 * MiB), ...Array.from({ length: 10 }, () => g.tick(MiB))])).toEqual([]);
    expect(await collections(() => g.tick(MiB))).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });

  it('collects in full at once after 6 MiB of large pieces, however recent the last collection and even with `young`', async () => {
    const MiB = 1024 * 1024;
    const g = createMemoryGovernor({ everyBytes: 8 * MiB, minIntervalMs: 60_000, young: true, majorEvery: 1000 });
    // The first collection is held off by the interval (the governor counts from its creation), however much passes.
    expect(await collections(() => Array.from({ length: 20 }, () => g.tick(MiB)))).toEqual([]);
    expect(await collections(() => g.tick(3 * MiB))).toEqual([]);
    expect(await collections(() => g.tick(3 * MiB))).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
    // Counted again from there: ordinary pieces never add to it.
    expect(await collections(() => [g.tick(4 * MiB), ...Array.from({ length: 10 }, () => g.tick(MiB))])).toEqual([]);
    expect(await collections(() => g.tick(2.5 * MiB))).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });
});
