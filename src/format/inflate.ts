/**
 * Inflating one whole gzip member, with one of two backends: libdeflate (native/inflate.c, built into dist/native/
 * by `npm run build` when a C compiler is there), or node:zlib. libdeflate takes ~40 % less CPU on a dump's members
 * (docs/BENCHMARKS.md), and a restore inflates the whole dump twice. node:zlib stays the fallback when the module is
 * missing (another platform, no compiler), and decides for any member libdeflate refuses: zlib's message is what
 * the operator sees, exactly as before libdeflate was there.
 */
import { promisify } from 'node:util';
import { gunzip as gunzipCb, type ZlibOptions } from 'node:zlib';
import type { BufferPool } from './buffer-pool.js';
import { loadNative, nativeAllowed } from './native.js';

const zlibGunzip = promisify(gunzipCb) as (buf: Buffer, opts: ZlibOptions) => Promise<Buffer>;

/**
 * Inflates one whole gzip member (CRC-32 and size checked); rejects with zlib's error for one that is damaged.
 * `pool`: where the output buffer comes from, when the backend chooses it (libdeflate; zlib allocates its own).
 */
export interface Inflater {
  readonly name: 'libdeflate' | 'zlib';
  inflate(member: Buffer, pool?: BufferPool): Promise<Buffer>;
}

/** Output chunk bounds: a member's declared size is a hint for one chunk, never trusted for an allocation. */
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 4 * 1024 * 1024;

/** The size a member declares in its trailer (ISIZE: the length modulo 2^32). */
const declaredSize = (member: Buffer) => (member.length >= 18 ? member.readUInt32LE(member.length - 4) : 0);

export const zlibInflater: Inflater = {
  name: 'zlib',
  inflate: (member) => zlibGunzip(member, { chunkSize: Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, declaredSize(member))) }),
};

/**
 * libdeflate inflates into a buffer of the declared size, so that size is an allocation: above this, or above
 * deflate's largest ratio (1032:1) for the member's length, the member goes to zlib, which allocates as it goes.
 * Our writer's members hold 1 MiB (format/gzip.ts).
 */
const MAX_NATIVE_OUTPUT = 64 * 1024 * 1024;

/** The libdeflate backend, or null when its module is not built for this platform or does not load. */
export function nativeInflater(): Inflater | null {
  const mod = loadNative();
  if (!mod) return null;
  return {
    name: 'libdeflate',
    async inflate(member, pool) {
      const size = declaredSize(member);
      if (size > MAX_NATIVE_OUTPUT || size > member.length * 1032) return zlibInflater.inflate(member);
      const out = pool ? pool.take(size) : Buffer.allocUnsafeSlow(size);
      try {
        return await mod.gunzip(member, out);
      } catch {
        pool?.release(out);
        return zlibInflater.inflate(member); // damaged, or a size that lies: zlib says which, or reads it after all
      }
    },
  };
}

/**
 * The inflater a reader uses: libdeflate when it is built here, unless `TURSO_BACKUP_INFLATE=zlib` (a way round a
 * module that misbehaves on some machine, and how the tests run the same cases on both).
 */
export function defaultInflater(): Inflater {
  if (!nativeAllowed()) return zlibInflater;
  return nativeInflater() ?? zlibInflater;
}
