/**
 * Streaming, bounded concurrency over an async iterable with p-limit: at most `concurrency` tasks run and at most
 * as many more wait, so a million-row inventory is pulled from its source only as fast as the tasks finish. The
 * first task failure (or an abort) stops the intake; queued tasks are skipped, and it rejects once the running
 * tasks settle.
 */
import pLimit from 'p-limit';
import { BackupError } from '../errors.js';

export async function forEachBounded<T>(items: AsyncIterable<T>, concurrency: number, task: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const limit = pLimit(Math.max(1, concurrency));
  const inflight = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;
  const maxQueued = Math.max(1, concurrency) * 2;
  try {
    for await (const item of items) {
      if (failure) break;
      if (signal?.aborted) {
        failure = { error: new BackupError('INTERRUPTED', 'interrupted') };
        break;
      }
      const p: Promise<void> = limit(async () => {
        if (failure) return;
        await task(item);
      }).then(
        () => void inflight.delete(p),
        (error: unknown) => {
          inflight.delete(p);
          failure ??= { error };
        },
      );
      inflight.add(p);
      while (inflight.size >= maxQueued && !failure) await Promise.race(inflight);
    }
  } catch (error) {
    // The source failed (a damaged dump, a lost database connection): that is the command's failure.
    failure ??= { error };
  }
  // Queued tasks see `failure` and return at once; running ones finish (each is bounded by its own retries).
  await Promise.all(inflight);
  if (failure) throw (failure as { error: unknown }).error;
}
