/**
 * The native module (native/inflate.c), built into dist/native/ by `npm run build` when a C compiler is there. It
 * inflates gzip members with libdeflate (inflate.ts), compresses them (gzip.ts) and, where Node exports its
 * OpenSSL, runs SHA-256 updates on libuv's thread pool (hash.ts). Everything it does has a JavaScript fallback: without it a dump reads the same,
 * with more CPU on the JavaScript thread. `TURSO_BACKUP_INFLATE=zlib` runs without it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeModule {
  gunzip(member: Buffer, out: Buffer): Promise<Buffer>;
  /**
   * Compresses `block` into `out` as one gzip member marked with its length (format/gzip.ts), at `level` (0–12);
   * resolves to the member's length. Absent in a module built before compression was added.
   */
  gzip?: (block: Buffer, out: Buffer, level: number) => Promise<number>;
  /** The bytes `out` must hold for gzip() of `length` bytes. */
  gzipBound?: (length: number) => number;
  /** A new SHA-256 state; absent when this Node does not export OpenSSL's digest functions. */
  sha256?: () => object;
  /** Hashes `bytes` into `state` on the thread pool. One at a time per state: the next waits for this one. */
  sha256Update?: (state: object, bytes: Buffer) => Promise<void>;
  /** The 32-byte digest; the state takes no more updates. */
  sha256Digest?: (state: object) => Buffer;
}

/**
 * Where the build puts the module, seen from this file in dist/format/ (the CLI, the package), from a chunk of the
 * checkout's bundle of edited sources (scripts/lib/launch.mjs), and from src/format/ (tests, tsx).
 */
export function nativeModulePaths(): string[] {
  const file = `inflate-${process.platform}-${process.arch}.node`;
  return [`../native/${file}`, `./native/${file}`, `../../dist/native/${file}`].map((p) => fileURLToPath(new URL(p, import.meta.url)));
}

let native: NativeModule | null | undefined;

/** The module, or null when it is not built for this platform or does not load (then JavaScript does its work). */
export function loadNative(): NativeModule | null {
  if (native !== undefined) return native;
  native = null;
  const path = nativeModulePaths().find((p) => existsSync(p));
  if (!path) return null;
  try {
    native = createRequire(import.meta.url)(path) as NativeModule;
  } catch {
    native = null; // built for another libc or CPU: zlib reads the dump just the same
  }
  return native;
}

/** False when `TURSO_BACKUP_INFLATE=zlib` asks for a run without the native module (a way round one that misbehaves). */
export function nativeAllowed(): boolean {
  return process.env.TURSO_BACKUP_INFLATE !== 'zlib';
}
