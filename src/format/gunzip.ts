/**
 * Parallel gunzip. A dump's members each declare their own length in their header (gzip.ts markedMemberParts), so
 * the reader finds member n+1 without inflating member n and inflates several at once on libuv's thread pool (with
 * libdeflate when it is built, inflate.ts), in order; a restore's first pass is bound by inflating, and this puts
 * both cores on it. Members without that field (dumps written before it, or by another gzip writer) make the rest
 * of the stream go through one streaming gunzip, as any gzip reader would read it.
 */
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ByteQueue } from '../byte-queue.js';
import { BackupError } from '../errors.js';
import { LENGTH_SUBFIELD } from './gzip.js';
import type { BufferPool } from './buffer-pool.js';
import { defaultInflater, type Inflater } from './inflate.js';

/** What markedMemberParts writes before the deflate data: header, XLEN, subfield ID, LEN, the length. */
const MARKED_HEADER = 20;
const FEXTRA = 0x04;

export interface GunzipOptions {
  /** Members inflating at once (a thread each). */
  parallel: number;
  /** How a member is inflated (format/inflate.ts); defaultInflater() when absent. */
  inflater?: Inflater;
  /** Output buffers to use again (their reader gives them back); fresh ones when absent. */
  pool?: BufferPool;
}

export const DEFAULT_GUNZIP: GunzipOptions = { parallel: 3 };

/** The total length `head` (a member's first 20 bytes) declares in its extra field, or null when it declares none. */
export function declaredLength(head: Buffer): number | null {
  if (head.length < MARKED_HEADER || head[0] !== 0x1f || head[1] !== 0x8b || head[2] !== 8) return null;
  if (head[3] !== FEXTRA || head.readUInt16LE(10) !== 8) return null;
  if (head[12] !== LENGTH_SUBFIELD[0] || head[13] !== LENGTH_SUBFIELD[1] || head.readUInt16LE(14) !== 4) return null;
  const n = head.readUInt32LE(16);
  return n > MARKED_HEADER + 8 ? n : null;
}

const damaged = (e: unknown) => new BackupError('CORRUPT', `the dump's gzip stream is damaged (${(e as Error).message})`);
const truncated = () => new BackupError('CORRUPT', 'the dump is truncated (its gzip stream ends early)');

/** Maps zlib's messages to what happened to the file. */
export function gzipError(e: unknown): BackupError {
  if (e instanceof BackupError) return e;
  const err = e as { code?: string; message?: string };
  if (err.code === 'Z_BUF_ERROR' || /unexpected end/i.test(err.message ?? '')) return truncated();
  if (typeof err.code === 'string' && err.code.startsWith('Z_')) return damaged(e);
  return new BackupError('CORRUPT', `cannot read the dump: ${err.message ?? String(e)}`);
}

/** One whole member inflated on the thread pool (its CRC-32 and size checked). */
function inflateMember(inflater: Inflater, member: Buffer, pool?: BufferPool): Promise<Buffer> {
  const p = inflater.inflate(member, pool).catch((e: unknown) => {
    throw damaged(e);
  });
  p.catch(() => {}); // awaited in order by the caller; no unhandled rejection meanwhile
  return p;
}

/** The rest of the stream (`head`, then what `it` still gives) through one streaming gunzip. */
async function* streamRest(head: Buffer[], it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  async function* rest() {
    yield* head;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  const out = pipeline(Readable.from(rest(), { objectMode: false }), createGunzip({ chunkSize: 256 * 1024 }), () => {});
  try {
    for await (const chunk of out) yield chunk as Buffer;
  } catch (e) {
    throw gzipError(e);
  } finally {
    out.destroy();
  }
}

/**
 * The uncompressed bytes of a gzip stream, in order: members that declare their length are inflated `parallel` at
 * a time; from the first member that does not, the rest streams through one gunzip. A declared length is only a
 * hint (only our writer sets it, and nothing checks it): a member it does not frame whole sends the rest, from that
 * member on, through the streaming gunzip too, which reads any valid gzip file and names real damage. Errors are
 * CORRUPT (truncated or damaged) except the source's own, which pass through.
 */
export async function* gunzipMembers(source: AsyncIterable<Buffer>, opts: GunzipOptions = DEFAULT_GUNZIP): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const inflater = opts.inflater ?? defaultInflater();
  const q = new ByteQueue();
  let ended = false;
  const fill = async (n: number) => {
    while (q.length < n && !ended) {
      const r = await it.next();
      if (r.done) ended = true;
      else q.append(Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value));
    }
    return q.length >= n;
  };
  // Each member's bytes are kept until it is handed on: a member that fails is read again by the streaming gunzip.
  const inflight: { member: Buffer; out: Promise<Buffer> }[] = [];
  const rest = () => streamRest([...inflight.splice(0).map((m) => m.member), ...q.drain()], it);
  /** The member first in flight ends where another member's header or the stream's end is: its length held. */
  const framed = async () => inflight.length > 1 || ((await fill(3)) ? isHeader(q.peek(3)) : q.length === 0);
  /**
   * Hands on members in order until `keep` are in flight; false when one failed to inflate on its own (kept) and
   * its declared length may be what is wrong. A member that its length frames exactly is damaged itself: said so
   * here, where a streaming gunzip would hand on its damaged bytes before their CRC-32 is checked.
   */
  async function* handOn(keep: number): AsyncGenerator<Buffer, boolean> {
    while (inflight.length > keep) {
      const failure = yield* settled(inflight[0]!.out);
      if (failure) {
        if (await framed()) throw failure;
        return false;
      }
      inflight.shift();
    }
    return true;
  }
  let members = 0;
  try {
    for (;;) {
      await fill(MARKED_HEADER);
      if (q.length === 0 && ended) break;
      const length = declaredLength(q.peek(Math.min(q.length, MARKED_HEADER)));
      if (length === null || !(await fill(length))) {
        yield* handOn(0); // whether the members before it inflate or not, the rest streams from the first not handed on
        yield* rest();
        return;
      }
      const member = q.read(length);
      inflight.push({ member, out: inflateMember(inflater, member, opts.pool) });
      members++;
      if (!(yield* handOn(opts.parallel - 1))) {
        yield* rest();
        return;
      }
    }
    if (members === 0) throw truncated();
    if (!(yield* handOn(0))) yield* rest();
  } finally {
    await it.return?.();
  }
}

/** Yields a member's bytes and returns null, or returns why it failed to inflate on its own. */
async function* settled(out: Promise<Buffer>): AsyncGenerator<Buffer, BackupError | null> {
  let bytes: Buffer;
  try {
    bytes = await out;
  } catch (e) {
    return gzipError(e);
  }
  yield bytes;
  return null;
}

const isHeader = (b: Buffer) => b[0] === 0x1f && b[1] === 0x8b && b[2] === 8;
