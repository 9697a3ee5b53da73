/**
 * Parallel gzip: each block of the stream is compressed as its own gzip member on libuv's thread pool, several at
 * once, and the members are written in order. Concatenated members are one valid gzip file (RFC 1952 §2.2; gunzip,
 * zcat and zlib.createGunzip read them all). Compression is the bottleneck of a dump (docs/BENCHMARKS.md); this
 * lets both cores compress while the main thread reads and encodes.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb, type ZlibOptions } from 'node:zlib';

const gzip = promisify(gzipCb) as (buf: Buffer, opts: ZlibOptions) => Promise<Buffer>;

export interface GzipOptions {
  level: number;
  /** Uncompressed bytes per member. */
  blockBytes: number;
  /** Members being compressed at once; memory is about (parallel + 2) × blockBytes. */
  parallel: number;
}

/**
 * Level 2 (measured on four data shapes, docs/BENCHMARKS.md): within 0.5–2 % of level 3's size, 0.96–1.02× the size
 * of `sqlite3 .dump | pigz -6`, and cheaper; compression is the largest CPU cost of a backup.
 */
export const DEFAULT_GZIP: GzipOptions = { level: 2, blockBytes: 1024 * 1024, parallel: 3 };

/** zlib's largest hash table (memLevel 9, 128 KiB more per stream than the default 8): 15–20 % less CPU, same size. */
const MEM_LEVEL = 9;

/**
 * An async-iterable transform: blocks in, gzip members out, order kept, at most `parallel` in flight. Each input
 * block is passed to `release` once compressed, so its memory can be reused.
 */
export function gzipBlocks(opts: GzipOptions, release: (block: Buffer) => void = () => {}) {
  return async function* (blocks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const inflight: Promise<Buffer>[] = [];
    for await (const block of blocks) {
      const p = gzip(block, { level: opts.level, memLevel: MEM_LEVEL }).then((out) => {
        release(block);
        return out;
      });
      p.catch(() => {}); // awaited in order below; no unhandled rejection meanwhile
      inflight.push(p);
      while (inflight.length >= opts.parallel) yield await inflight.shift()!;
    }
    while (inflight.length > 0) yield await inflight.shift()!;
  };
}
