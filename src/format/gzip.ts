/**
 * Parallel gzip: each block of the stream is compressed as its own gzip member on libuv's thread pool, several at
 * once, and the members are written in order. Concatenated members are one valid gzip file (RFC 1952 §2.2; gunzip,
 * zcat and zlib.createGunzip read them all). Compression is the largest CPU cost of a dump (docs/BENCHMARKS.md);
 * this lets both cores compress while the main thread reads and encodes.
 *
 * Two backends, as for inflating (inflate.ts): libdeflate (native/inflate.c, when the build found a C compiler),
 * which at the same level writes members as small or smaller than zlib's with 25–40 % less CPU on the four bench
 * shapes, and node:zlib, the fallback (and the choice with `TURSO_BACKUP_INFLATE=zlib`). Either writes the same
 * format: gzip members marked with their length.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb, type ZlibOptions } from 'node:zlib';
import { REUSE_MAX } from '../memory.js';
import { loadNative, nativeAllowed } from './native.js';

const gzip = promisify(gzipCb) as (buf: Buffer, opts: ZlibOptions) => Promise<Buffer>;

export interface GzipOptions {
  level: number;
  /**
   * A level to try against `level` (one member in TRIAL_EVERY is compressed at both), taken for the members that
   * follow when it writes them HIGHER_GAIN smaller. Only when the operator did not choose the level.
   */
  higher?: number;
  /** Uncompressed bytes per member. */
  blockBytes: number;
  /** Members being compressed at once; memory is about (parallel + 2) × blockBytes. */
  parallel: number;
}

/**
 * Level 2 (measured on four data shapes, docs/BENCHMARKS.md): with libdeflate 0.94–0.99× the size of
 * `sqlite3 .dump | pigz -6` (with zlib 0.96–1.04×), and cheaper than level 3; compression is the largest CPU cost
 * of a backup.
 */
export const DEFAULT_GZIP: GzipOptions = { level: 2, higher: 6, blockBytes: 1024 * 1024, parallel: 3 };

/** The options a backup compresses with: a level the operator chose is every member's (no trial of another). */
export function gzipOptions(given?: Partial<GzipOptions>): GzipOptions {
  return { ...DEFAULT_GZIP, ...(given?.level !== undefined ? { higher: undefined } : {}), ...given };
}

/**
 * Level 6 is worth its cost on some text only: on the bench's JSON documents (7 KiB per row) libdeflate writes a
 * quarter less at level 6 than at 2 in the same time (32.8 against 43.7 MB; the anchor's pigz -6: 34.1 MB), but on
 * the keyed shape more (41.9 against 41.5 MB) for more CPU, on wide 3 % less for 88 % more, on events 9 % less
 * for 9 % more (docs/BENCHMARKS.md, session 28). The compression ratio does not tell them apart (keyed 8.6:1,
 * documents 10.6:1 at level 2); a trial does: one member in TRIAL_EVERY at both levels (~1.5 % more compression).
 */
const TRIAL_EVERY = 64;
/** The higher level is taken when its member is at most this fraction of the lower one's. */
const HIGHER_GAIN = 0.85;

/**
 * zlib's output buffer for a block: a member usually fits in one, so the block makes one round trip to the thread
 * pool instead of one per 16 KiB of output (zlib's default chunk), and no concatenation of the pieces.
 */
const outputChunk = (n: number) => Math.min(8 * 1024 * 1024, Math.max(64 * 1024, n + (n >>> 3) + 1024));

/** zlib's largest hash table (memLevel 9, 128 KiB more per stream than the default 8): 15–20 % less CPU, same size. */
const MEM_LEVEL = 9;

/** The extra-field subfield ID of a member's length ('T', 'B'): RFC 1952 §2.3.1.1 lets a writer define its own. */
export const LENGTH_SUBFIELD = [0x54, 0x42] as const;
const FEXTRA = 0x04;
/** Header (10) + XLEN (2) + subfield ID (2) + LEN (2) + the length (4). */
const MARKED_HEADER = 20;

/**
 * A member from zlib (a 10-byte header without flags) with an extra field holding its own total length: a reader can
 * then find every member without inflating the one before, and inflate several at once (format/gunzip.ts). Every
 * gzip reader skips the field (RFC 1952: FEXTRA), so the file stays what `gunzip` and any zlib read.
 *
 * As two parts, written one after the other: the new 20-byte header, and zlib's member after its own header, where
 * it lies. Copying each member whole into one buffer was a second allocation of its size per member, and memory
 * outside the heap then grew with the dump (the events shape's 3x backup peaked at +17 % over 1x; without the copy,
 * +13 %: docs/BENCHMARKS.md, session 15).
 */
export function markedMemberParts(member: Buffer): Buffer[] {
  const total = member.length + MARKED_HEADER - 10;
  if (member[3] !== 0 || total > 0xffffffff) return [member]; // zlib wrote flags, or too big to say: leave it as it is
  const head = Buffer.alloc(MARKED_HEADER);
  member.copy(head, 0, 0, 10);
  head[3] = FEXTRA;
  head.writeUInt16LE(8, 10);
  head[12] = LENGTH_SUBFIELD[0];
  head[13] = LENGTH_SUBFIELD[1];
  head.writeUInt16LE(4, 14);
  head.writeUInt32LE(total, 16);
  return [head, member.subarray(10)];
}

/** One block → one gzip member marked with its length, in the parts to write one after the other. */
export interface Deflater {
  readonly name: 'libdeflate' | 'zlib';
  member(block: Buffer, level: number): Promise<Buffer[]>;
  /** A part of a member is written (the sink no longer reads it): its memory may hold another member. */
  reuse?(part: Buffer): void;
}

export const zlibDeflater: Deflater = {
  name: 'zlib',
  member: async (block, level) => markedMemberParts(await gzip(block, { level, memLevel: MEM_LEVEL, chunkSize: outputChunk(block.length) })),
};

/**
 * The libdeflate backend, or null when its module is not built here (or predates compression). It writes the marked
 * header itself, in the output buffer, so a member is one part.
 */
export function nativeDeflater(): Deflater | null {
  const mod = loadNative();
  const compress = mod?.gzip;
  const bound = mod?.gzipBound;
  if (!compress || !bound) return null;
  // Output space of the bound's size, used again once the member in it is written (reuse): no memory is new per
  // member. V8 counts new memory outside the heap against the old generation's limit, and a block's size of it per
  // member brought on more full collections (a remote backup: 19-20, and 13-19 with a copy of each member out at its
  // own size; BENCHMARKS.md). The copies were garbage of their own, a member's size each, until a full collection.
  const spare: Buffer[] = [];
  const lent = new WeakMap<Buffer, Buffer>();
  const keep = (out: Buffer) => {
    if (spare.length < SPARE_OUTPUTS) spare.push(out);
  };
  return {
    name: 'libdeflate',
    async member(block, level) {
      const need = bound(block.length);
      // An output of the block's kind: a large one taken for a small block would make its member a copy.
      const i = spare.findIndex((o) => o.length >= need && o.length > REUSE_MAX === need > REUSE_MAX);
      const out = i >= 0 ? spare.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(need);
      let n: number;
      try {
        n = await compress(block, out, level);
      } catch (e) {
        keep(out);
        throw e;
      }
      if (out.length > REUSE_MAX) {
        // A large row's block (pages up to db/pages.ts MAX_PAGE_BYTES): lent, several outputs of its size would be
        // alive at once (compressing, waiting in order, being written, spare); a copy of its member costs less.
        keep(out);
        return [Buffer.from(out.subarray(0, n))];
      }
      const part = out.subarray(0, n);
      lent.set(part, out);
      return [part];
    },
    reuse(part) {
      const out = lent.get(part);
      if (!out) return;
      lent.delete(part);
      keep(out);
    },
  };
}

/** Output buffers kept for the next members: those being compressed (GzipOptions.parallel) and one being written. */
const SPARE_OUTPUTS = 4;

/** libdeflate when it is built here, unless `TURSO_BACKUP_INFLATE=zlib`; else node:zlib. */
export function defaultDeflater(): Deflater {
  if (!nativeAllowed()) return zlibDeflater;
  return nativeDeflater() ?? zlibDeflater;
}

/**
 * `block` compressed at both levels: the member of the level chosen is kept (the higher one's only when it is at most
 * HIGHER_GAIN of the lower one's; either is the same block), the other's memory given back, and `choose` told that
 * level for the members that follow.
 */
async function trialMember(deflater: Deflater, block: Buffer, lower: number, higher: number, choose: (level: number) => void): Promise<Buffer[]> {
  const [a, b] = await Promise.all([deflater.member(block, lower), deflater.member(block, higher)]);
  const size = (parts: Buffer[]) => parts.reduce((sum, part) => sum + part.length, 0);
  const better = size(b) <= size(a) * HIGHER_GAIN;
  choose(better ? higher : lower);
  for (const part of better ? a : b) deflater.reuse?.(part);
  return better ? b : a;
}

/**
 * An async-iterable transform: blocks in, the gzip stream out (members, each marked with its length, in the parts
 * the deflater gives), order kept, at most `parallel` in flight. Each input block is passed to `release` once
 * compressed, so its memory can be reused.
 */
export function gzipBlocks(opts: GzipOptions, release: (block: Buffer) => void = () => {}, deflater: Deflater = defaultDeflater()) {
  return async function* (blocks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const inflight: Promise<Buffer[]>[] = [];
    let level = opts.level;
    let n = 0;
    for await (const block of blocks) {
      const trial = opts.higher !== undefined && opts.higher !== opts.level && n++ % TRIAL_EVERY === 0;
      const member = trial ? trialMember(deflater, block, opts.level, opts.higher!, (l) => (level = l)) : deflater.member(block, level);
      const p = member.then((parts) => {
        release(block);
        return parts;
      });
      p.catch(() => {}); // awaited in order below; no unhandled rejection meanwhile
      inflight.push(p);
      while (inflight.length >= opts.parallel) yield* await inflight.shift()!;
    }
    while (inflight.length > 0) yield* await inflight.shift()!;
  };
}
