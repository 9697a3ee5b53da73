/**
 * The inflater's buffer pool (src/format/buffer-pool.ts): buffers of the size asked for, used again once given back,
 * never one that is out, and only its own.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/format/buffer-pool.js';
import { nativeInflater } from '../../src/format/inflate.js';

const MiB = 1024 * 1024;

describe('BufferPool', () => {
  it('hands out buffers of exactly the size asked for, and a given-back one again for any size it holds', () => {
    const pool = new BufferPool();
    const a = pool.take(MiB);
    expect(a.length).toBe(MiB);
    const b = pool.take(1000);
    expect(b.length).toBe(1000);
    expect(b.buffer).not.toBe(a.buffer);
    pool.release(a.subarray(10, 20)); // any view of it gives it back
    const c = pool.take(500_000);
    expect(c.length).toBe(500_000);
    expect(c.buffer).toBe(a.buffer);
    // Too big for what is free: a new one.
    pool.release(b);
    expect(pool.take(MiB + 1).buffer).not.toBe(b.buffer);
  });

  it('never hands out one buffer twice: a second give-back of a buffer already free is ignored', () => {
    const pool = new BufferPool();
    const a = pool.take(MiB);
    pool.release(a);
    pool.release(a);
    const x = pool.take(MiB);
    const y = pool.take(MiB);
    expect(x.buffer).toBe(a.buffer);
    expect(y.buffer).not.toBe(a.buffer);
  });

  it('takes back only its own buffers, keeps at most `keep`, and leaves big ones to the collector', () => {
    const pool = new BufferPool(2);
    const foreign = Buffer.allocUnsafeSlow(MiB);
    pool.release(foreign);
    expect(pool.take(MiB).buffer).not.toBe(foreign.buffer);
    const out = [pool.take(MiB), pool.take(MiB), pool.take(MiB)];
    for (const b of out) pool.release(b);
    const again = [pool.take(MiB), pool.take(MiB), pool.take(MiB)].map((b) => b.buffer);
    expect(again.filter((b) => out.some((o) => o.buffer === b))).toHaveLength(2);
    const big = pool.take(5 * MiB);
    expect(big.length).toBe(5 * MiB);
    pool.release(big);
    expect(pool.take(5 * MiB).buffer).not.toBe(big.buffer);
  });

  const native = nativeInflater();
  it.skipIf(!native)('libdeflate inflates into the pool, and gives the buffer back when it leaves a member to zlib', async () => {
    const pool = new BufferPool();
    const sample = Buffer.from('["row",1.5,null]\n'.repeat(50_000));
    const first = await native!.inflate(gzipSync(sample), pool);
    expect(first.equals(sample)).toBe(true);
    pool.release(first);
    const second = await native!.inflate(gzipSync(sample), pool);
    expect(second.buffer).toBe(first.buffer);
    expect(second.equals(sample)).toBe(true);
    // A damaged member: libdeflate refuses it, zlib says why; the pool's buffer is free again.
    pool.release(second);
    const bad = gzipSync(sample);
    bad[bad.length - 6]! ^= 0xff;
    await expect(native!.inflate(bad, pool)).rejects.toMatchObject({ code: expect.stringMatching(/^Z_/) });
    expect(pool.take(sample.length).buffer).toBe(first.buffer);
  });
});
