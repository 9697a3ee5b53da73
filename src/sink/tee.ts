/**
 * One dump, several destinations, one pass over the database: every chunk goes to every sink (written in
 * parallel, each write awaited, so the slowest sink sets the pace), so a local file and a blob written together
 * are byte-identical. Commit flushes every branch first (an upload's failed part surfaces there), then commits
 * file sinks (cheap and local), then the others; any failure aborts every sink that has not committed yet.
 */
import { BackupError } from '../errors.js';
import type { Manifest } from '../format/lines.js';
import { isLocalSink, type Sink, type SinkResult } from './types.js';

/** One dump into several sinks in one pass (the same bytes to each; local files committed first). */
export function teeSink(sinks: Sink[]): Sink {
  if (sinks.length === 0) throw new BackupError('INTERNAL', 'teeSink needs at least one sink');
  const names = new Set(sinks.map((s) => s.fileName));
  if (names.size !== 1) throw new BackupError('INTERNAL', `teeSink: the sinks name the dump differently (${[...names].join(', ')})`);
  const order = [...sinks.filter(isLocalSink), ...sinks.filter((s) => !isLocalSink(s))];
  const opened: Sink[] = [];
  const committed = new Set<Sink>();

  const abortAll = async () => {
    await Promise.allSettled(opened.filter((s) => !committed.has(s)).map((s) => s.abort()));
  };

  return {
    kind: 'tee',
    label: sinks.map((s) => s.label).join(' + '),
    fileName: sinks[0]!.fileName,
    inner: sinks,
    async open() {
      try {
        for (const s of order) {
          await s.open();
          opened.push(s);
        }
      } catch (e) {
        await abortAll();
        throw e;
      }
    },
    async write(chunk) {
      const results = await Promise.allSettled(opened.map((s) => s.write(chunk)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    async commit(manifest: Manifest): Promise<SinkResult> {
      const results: SinkResult[] = [];
      try {
        // Every branch holds all its bytes, or the backup fails before any branch commits.
        await Promise.all(order.map((s) => s.flush?.()));
        for (const s of order) {
          // Every branch stored the same bytes: each writes its own copy of the same manifest.
          results.push(await s.commit({ ...manifest, file: { ...manifest.file } }));
          committed.add(s);
        }
      } catch (e) {
        await abortAll();
        throw e;
      }
      // Results in the order the sinks were given.
      return { kind: 'tee', results: sinks.map((s) => results[order.indexOf(s)]!) };
    },
    abort: abortAll,
  };
}

/** The result of kind `kind` in a sink result (direct or inside a tee), if any. */
function resultOf<K extends 'file' | 'blob'>(r: SinkResult | undefined, kind: K): Extract<SinkResult, { kind: K }> | undefined {
  if (!r) return undefined;
  if (r.kind === kind) return r as Extract<SinkResult, { kind: K }>;
  if (r.kind === 'tee') return r.results.map((x) => resultOf(x, kind)).find((x) => x !== undefined);
  return undefined;
}

/** The blob result of a sink result (direct or inside a tee), if any. */
export const blobResultOf = (r: SinkResult | undefined) => resultOf(r, 'blob');

/** The file result of a sink result (direct or inside a tee), if any. */
export const fileResultOf = (r: SinkResult | undefined) => resultOf(r, 'file');
