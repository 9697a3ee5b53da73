/**
 * Worker thread: the database side of a backup (source.ts) for a `file:` source, on its own connection and its
 * own core. Pages cross to the main thread without a copy (their memory is transferred) and at most `credits` are
 * on their way at once (a page of rows of MiBs alone: memory.ts pageCredits), so memory stays bounded whatever the
 * main thread's pace (backpressure from the sink).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { remoteTuning, type RemoteTuning } from '../db/hrana/config.js';
import { sqliteFailure } from '../db/local.js';
import { BackupError } from '../errors.js';
import { pageCredits, REUSE_MAX } from '../memory.js';
import { readSource, type SourceEvent, type SourceOptions } from './source.js';

export interface ReaderData {
  opts: SourceOptions;
  /** Pages the worker may send before the main thread took any. */
  credits: number;
  /** The remote tuning of the parent (tests shorten timers there). */
  tuning: RemoteTuning;
}

/** Worker → main. `recycle`: the page's memory is one this thread wants back (CreditMessage.give). */
export type ReaderMessage = { event: SourceEvent; recycle?: boolean } | { error: { code?: string; message: string; ours: boolean } } | { done: true };

/** Main → worker: pages taken, and the memory of a page that is no longer read (transferred back). */
export interface CreditMessage {
  credits: number;
  give?: ArrayBuffer;
}

const port = parentPort!;
const data = workerData as ReaderData;
Object.assign(remoteTuning, data.tuning);
/**
 * Memory for pages with BLOBs, used again. Such a page is written anew (its BLOBs in base64: db/encode.ts) and sent
 * to the main thread, where it was garbage once compressed, freed only by a full collection (every 32 MiB of pages
 * there). Now the main thread gives a page's memory back once nothing reads it (backup.ts, format/blocks.ts), and a
 * later page is written into it. With the gzip members' memory used again too (format/gzip.ts), peak RSS of the
 * backup (alternating, docs/BENCHMARKS.md session 24): events 125–130 → 113–121 MB (3×: 143–148 → 120–123 MB),
 * wide 135–137 → 117 MB. Pages over REUSE_MAX (rows of MiBs) are not kept. At most as many spares as pages may be
 * on their way: more would only wait here.
 */
const SPARES = data.credits;
const recycling = (() => {
  const spare: ArrayBuffer[] = [];
  const ours = new WeakSet<ArrayBuffer>();
  return {
    give(ab: ArrayBuffer) {
      if (spare.length < SPARES) spare.push(ab);
    },
    alloc(size: number): Buffer {
      if (size > REUSE_MAX) return Buffer.allocUnsafeSlow(size);
      let best = -1;
      for (let i = 0; i < spare.length; i++) {
        if (spare[i]!.byteLength >= size && (best < 0 || spare[i]!.byteLength < spare[best]!.byteLength)) best = i;
      }
      // A little room over the first page's size: the pages of a table differ by a few rows' worth.
      const ab = best >= 0 ? spare.splice(best, 1)[0]! : new ArrayBuffer(Math.min(REUSE_MAX, size + (size >>> 2)));
      ours.add(ab);
      return Buffer.from(ab, 0, size);
    },
    wanted: (ab: ArrayBuffer) => ours.has(ab),
  };
})();

let credits = data.credits;
let wake: (() => void) | null = null;
port.on('message', (m: CreditMessage) => {
  credits += m.credits;
  if (m.give) recycling.give(m.give);
  wake?.();
});

/** A page's own memory, which can be transferred (never a slice of Node's shared small-buffer pool). */
function ownMemory(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength > Buffer.poolSize) return bytes;
  const own = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(own);
  return own;
}

try {
  for await (const event of readSource(data.opts, recycling.alloc)) {
    if (event.kind !== 'page') {
      port.postMessage({ event } satisfies ReaderMessage);
      continue;
    }
    const bytes = ownMemory(event.bytes);
    const cost = pageCredits(bytes.length, data.credits);
    while (credits < cost) await new Promise<void>((r) => (wake = r));
    credits -= cost;
    const ab = bytes.buffer as ArrayBuffer;
    port.postMessage({ event: { ...event, bytes }, recycle: recycling.wanted(ab) } satisfies ReaderMessage, [ab]);
  }
  port.postMessage({ done: true } satisfies ReaderMessage);
} catch (caught) {
  // Read on a local file: what SQLite says about the file itself reaches the operator in its terms.
  const e = sqliteFailure(caught, data.opts.url.replace(/^file:/, '')) ?? caught;
  port.postMessage({ error: { code: (e as { code?: string }).code, message: (e as Error).message, ours: e instanceof BackupError } } satisfies ReaderMessage);
} finally {
  port.close();
}
