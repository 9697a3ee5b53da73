/**
 * One dump, several destinations, one pass over the database: every chunk goes to every sink (written in
 * parallel, each write awaited, so the slowest sink sets the pace), so a local file and a blob written together
 * are byte-identical. Commit runs file sinks first (cheap and local), then the others; any failure aborts every
 * sink that has not committed yet.
 */
import { BackupError } from '../errors.js';
import type { Manifest } from '../format/lines.js';
import type { Sink, SinkResult } from './types.js';

export function teeSink(sinks: Sink[], opts: { isFile?: (s: Sink) => boolean } = {}): Sink {
  if (sinks.length === 0) throw new BackupError('INTERNAL', 'teeSink needs at least one sink');
  const names = new Set(sinks.map((s) => s.fileName));
  if (names.size !== 1) throw new BackupError('INTERNAL', `teeSink: the sinks name the dump differently (${[...names].join(', ')})`);
  // File sinks are labelled with their path; the blob sink with "blob:<pathname>".
  const isFile = opts.isFile ?? ((s: Sink) => !s.label.startsWith('blob:'));
  const order = [...sinks.filter(isFile), ...sinks.filter((s) => !isFile(s))];
  const opened: Sink[] = [];
  const committed = new Set<Sink>();

  const abortAll = async () => {
    await Promise.allSettled(opened.filter((s) => !committed.has(s)).map((s) => s.abort()));
  };

  return {
    label: sinks.map((s) => s.label).join(' + '),
    fileName: sinks[0]!.fileName,
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
        for (const s of order) {
          results.push(await s.commit(manifest));
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

/** The blob result of a sink result (direct or inside a tee), if any. */
export function blobResultOf(r: SinkResult | undefined): Extract<SinkResult, { kind: 'blob' }> | undefined {
  if (!r) return undefined;
  if (r.kind === 'blob') return r;
  if (r.kind === 'tee') for (const x of r.results) { const b = blobResultOf(x); if (b) return b; }
  return undefined;
}

/** The file result of a sink result (direct or inside a tee), if any. */
export function fileResultOf(r: SinkResult | undefined): Extract<SinkResult, { kind: 'file' }> | undefined {
  if (!r) return undefined;
  if (r.kind === 'file') return r;
  if (r.kind === 'tee') for (const x of r.results) { const f = fileResultOf(x); if (f) return f; }
  return undefined;
}
