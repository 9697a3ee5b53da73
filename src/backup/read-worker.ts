/**
 * Worker thread: the database side of a backup (source.ts) for a `file:` source, on its own connection and its
 * own core. Pages cross to the main thread without a copy (their memory is transferred) and at most `credits` are
 * on their way at once, so memory stays bounded whatever the main thread's pace (backpressure from the sink).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { remoteTuning, type RemoteTuning } from '../db/hrana/config.js';
import { sqliteFailure } from '../db/local.js';
import { BackupError } from '../errors.js';
import { readSource, type SourceEvent, type SourceOptions } from './source.js';

export interface ReaderData {
  opts: SourceOptions;
  /** Pages the worker may send before the main thread took any. */
  credits: number;
  /** The remote tuning of the parent (tests shorten timers there). */
  tuning: RemoteTuning;
}

/** Worker → main. */
export type ReaderMessage = { event: SourceEvent } | { error: { code?: string; message: string; ours: boolean } } | { done: true };

/** Main → worker: pages taken. */
export interface CreditMessage {
  credits: number;
}

const port = parentPort!;
const data = workerData as ReaderData;
Object.assign(remoteTuning, data.tuning);
let credits = data.credits;
let wake: (() => void) | null = null;
port.on('message', (m: CreditMessage) => {
  credits += m.credits;
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
  for await (const event of readSource(data.opts)) {
    if (event.kind !== 'page') {
      port.postMessage({ event } satisfies ReaderMessage);
      continue;
    }
    while (credits <= 0) await new Promise<void>((r) => (wake = r));
    credits--;
    const bytes = ownMemory(event.bytes);
    port.postMessage({ event: { ...event, bytes } } satisfies ReaderMessage, [bytes.buffer as ArrayBuffer]);
  }
  port.postMessage({ done: true } satisfies ReaderMessage);
} catch (caught) {
  // Read on a local file: what SQLite says about the file itself reaches the operator in its terms.
  const e = sqliteFailure(caught, data.opts.url.replace(/^file:/, '')) ?? caught;
  port.postMessage({ error: { code: (e as { code?: string }).code, message: (e as Error).message, ours: e instanceof BackupError } } satisfies ReaderMessage);
} finally {
  port.close();
}
