/**
 * Where the database side of a backup runs: on a reader thread for a `file:` source (SQLite's work on the second
 * core), in this thread for a remote one (it waits on the network, and a serverless function's bundle need not
 * carry a worker file). Either way the pipeline sees the same events.
 */
import { createHash, type Hash } from 'node:crypto';
import { finishEncodedPage } from '../db/pages.js';
import { parseDatabaseUrl } from '../db/url.js';
import { remoteTuning } from '../db/hrana/config.js';
import { BackupError, type ErrorCode } from '../errors.js';
import { pageCredits } from '../memory.js';
import { spawnWorker } from '../worker.js';
import type { CreditMessage, ReaderData, ReaderMessage } from './read-worker.js';
import { readSource, type SourceEvent, type SourceOptions } from './source.js';

/**
 * Local pages of ~1 MiB: SQLite encodes them in one call, and a page over half a gzip block goes to compression as its
 * own member, without a copy into a block (format/blocks.ts).
 */
export const LOCAL_PAGES = { maxRows: 32768, targetBytes: 1024 * 1024, firstRows: 256 };

/** Pages on their way from the reader thread at once: enough to keep both sides busy, little memory. */
const CREDITS = 4;

/** The source's events, from a reader thread (`thread`) or from this one. */
export function sourceEvents(opts: SourceOptions, thread = parseDatabaseUrl(opts.url).kind === 'file'): AsyncGenerator<SourceEvent> {
  return thread ? threadEvents(opts) : readSource(opts);
}

/** Only what a source needs crosses to the thread (the caller's options also hold callbacks and signals). */
const sourceOptions = (o: SourceOptions): SourceOptions => ({
  url: o.url,
  authToken: o.authToken,
  selection: o.selection,
  media: o.media,
  consistency: o.consistency,
  pages: o.pages ?? LOCAL_PAGES,
  // Keys arrive in order: a small page cache reads as fast as better-sqlite3's 16 MB default, in less memory.
  cacheKiB: o.cacheKiB ?? 2048,
  // Finished and hashed here instead (threadEvents): SQLite's encoding keeps the reader thread busier than this one.
  checksums: false,
});

async function* threadEvents(opts: SourceOptions): AsyncGenerator<SourceEvent> {
  const data: ReaderData = { opts: sourceOptions(opts), credits: CREDITS, tuning: { ...remoteTuning } };
  const worker = spawnWorker('backup/read-worker', data);
  const queue: ReaderMessage[] = [];
  let wake: (() => void) | null = null;
  let exited = false;
  let failure: Error | null = null;
  /** The open section and its checksum (the thread sends none: sourceOptions). */
  let section = '';
  let hash: Hash | null = null;
  worker.on('message', (m: ReaderMessage) => {
    queue.push(m);
    wake?.();
  });
  worker.on('error', (e) => {
    failure ??= e;
    wake?.();
  });
  worker.on('exit', () => {
    exited = true;
    wake?.();
  });
  try {
    for (;;) {
      const m = queue.shift();
      if (!m) {
        if (failure) throw new BackupError('INTERNAL', `the reader thread failed: ${(failure as Error).message}`);
        if (exited) throw new BackupError('INTERNAL', 'the reader thread stopped before the end of the dump');
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      if ('done' in m) return;
      if ('error' in m) throw m.error.ours ? new BackupError(m.error.code as ErrorCode, m.error.message) : new Error(m.error.message);
      const ev = m.event;
      if (ev.kind === 'page') {
        const b = ev.bytes as unknown as Uint8Array;
        const bytes = finishEncodedPage(section, { ...ev, bytes: Buffer.from(b.buffer, b.byteOffset, b.byteLength) });
        hash!.update(bytes);
        const give = m.recycle && bytes.buffer === b.buffer ? (b.buffer as ArrayBuffer) : null;
        const release = give ? () => worker.postMessage({ credits: 0, give } satisfies CreditMessage, [give]) : undefined;
        yield { kind: 'page', bytes, rows: ev.rows, release };
        worker.postMessage({ credits: pageCredits(b.byteLength, CREDITS) } satisfies CreditMessage);
      } else if (ev.kind === 'section') {
        section = ev.name;
        hash = createHash('sha256');
        yield ev;
      } else if (ev.kind === 'end') yield { ...ev, sha256: hash!.digest('hex') };
      else yield ev;
    }
  } finally {
    await worker.terminate();
  }
}
