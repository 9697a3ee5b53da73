import { describe, expect, it } from 'vitest';
import { ByteQueue } from '../src/byte-queue.js';

/** 0, 1, 2, … as bytes, cut into chunks of the given sizes. */
function queueOf(sizes: number[]): { q: ByteQueue; all: Buffer } {
  const all = Buffer.from(Array.from({ length: sizes.reduce((a, b) => a + b, 0) }, (_, i) => i % 251));
  const q = new ByteQueue();
  let at = 0;
  for (const n of sizes) {
    q.append(all.subarray(at, at + n));
    at += n;
  }
  return { q, all };
}

describe('ByteQueue', () => {
  it('peeks and reads exact lengths wherever the chunks are cut, from any offset into the first', () => {
    const sizes = [3, 1, 0, 7, 2, 11, 5];
    const total = sizes.reduce((a, b) => a + b, 0);
    for (let skip = 0; skip <= total; skip++) {
      for (let n = 0; n <= total - skip + 2; n++) {
        const { q, all } = queueOf(sizes);
        q.read(skip);
        expect(q.peek(n)).toEqual(all.subarray(skip, Math.min(total, skip + n)));
        expect(q.length).toBe(total - skip); // peeking takes nothing
        if (n <= q.length) {
          expect(q.read(n)).toEqual(all.subarray(skip, skip + n));
          expect(q.length).toBe(total - skip - n);
        }
      }
    }
  });

  it('drains what is left, in order, and is empty after', () => {
    const { q, all } = queueOf([4, 4, 4]);
    q.read(6);
    expect(Buffer.concat(q.drain())).toEqual(all.subarray(6));
    expect(q.length).toBe(0);
    expect(q.peek(3).length).toBe(0);
  });
});
