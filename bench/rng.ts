/** Seeded randomness for the bench builders: the same seed gives the same database, so runs stay comparable. */
import { createCipheriv } from 'node:crypto';

/** mulberry32: a small, fast 32-bit PRNG; returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Incompressible bytes from a seed: AES-128-CTR keystream (hardware AES, GB/s). Math.random-style PRNGs written
 * byte by byte would dominate the build time of the wide shape (~100 MB of random bytes per 1×).
 */
export function byteStream(seed: number): (n: number) => Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed >>> 0, 0);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return (n) => cipher.update(Buffer.alloc(n));
}
