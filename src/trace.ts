/**
 * Phase timings for measuring where a run's time goes (docs/BENCHMARKS.md): with TURSO_BACKUP_TRACE=1 each phase's
 * end is written to stderr as `trace: +1234 ms (cpu 2345 ms, rss …) <phase>`: the process's CPU (all threads, user
 * + system) so far, its resident memory, and the main thread's heap (used/reserved) and memory outside the heap.
 * Names of phases only: never a value, a path or a URL.
 */
const on = process.env.TURSO_BACKUP_TRACE === '1';
const started = performance.now();

/** Marks the end of a phase (a no-op unless TURSO_BACKUP_TRACE=1). */
export function trace(phase: string): void {
  if (!on) return;
  const cpu = process.cpuUsage();
  const mb = (n: number) => Math.round(n / 1048576);
  const m = process.memoryUsage();
  process.stderr.write(
    `trace: +${Math.round(performance.now() - started)} ms (cpu ${Math.round((cpu.user + cpu.system) / 1000)} ms, rss ${mb(m.rss)} MB, heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB, external ${mb(m.external)} MB) ${phase}\n`,
  );
}
