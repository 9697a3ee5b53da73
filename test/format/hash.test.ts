import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { poolHash, type StreamHash, streamHash, threadHash } from '../../src/format/hash.js';

const native = poolHash();
const HASHES: [string, () => StreamHash][] = [['thread', threadHash], ...(native ? [['pool', () => poolHash()!] as [string, () => StreamHash]] : [])];
const sha = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest('hex');

let seed = 4242;
const rnd = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};

describe('the whole-stream hash', () => {
  it('the native module runs SHA-256 on the thread pool here (the build found a compiler, Node exports OpenSSL)', () => {
    // CI builds the module; without it this machine would read dumps with the JavaScript thread's hash.
    expect(native).not.toBeNull();
    expect(streamHash().constructor.name).toBe('PoolHash');
  });

  it.each(HASHES)('%s: equals node:crypto over any cutting of the bytes, adjacent views of one buffer included', async (_, make) => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    for (let round = 0; round < 20; round++) {
      const h = make();
      for (let at = 0; at < data.length; ) {
        const n = round === 0 ? data.length : rnd(round < 10 ? 300_000 : 3000); // empty views included
        h.update(data.subarray(at, at + n));
        at += n;
      }
      expect(await h.digest()).toBe(sha(data));
    }
    const empty = make();
    expect(await empty.digest()).toBe(sha(Buffer.alloc(0)));
  });

  it.each(HASHES)('%s: runs each `after` callback only once everything before it is hashed, in order', async (_, make) => {
    const h = make();
    const pieces = Array.from({ length: 40 }, () => randomBytes(64 * 1024 + rnd(1000)));
    const expected = sha(...pieces);
    const order: number[] = [];
    pieces.forEach((p, i) => {
      h.update(p);
      h.after(() => {
        order.push(i);
        p.fill(0x7e); // as if the buffer were handed out again: a hash that had not read it yet would differ
      });
    });
    expect(await h.digest()).toBe(expected);
    expect(order).toEqual(pieces.map((_, i) => i));
  });

  it.each(HASHES)('%s: counts what is pending, and drain() waits until at most that much is', async (_, make) => {
    const h = make();
    for (let i = 0; i < 16; i++) h.update(randomBytes(256 * 1024));
    expect(h.pending).toBeLessThanOrEqual(16 * 256 * 1024);
    await h.drain(1024 * 1024);
    expect(h.pending).toBeLessThanOrEqual(1024 * 1024);
    await h.drain(0);
    expect(h.pending).toBe(0);
    let ran = false;
    h.after(() => (ran = true));
    expect(ran).toBe(true); // nothing pending: at once
  });

  it.runIf(native)('pool: a failed update makes the digest fail, and every callback still runs (buffers go back)', async () => {
    const real = (await import('../../src/format/native.js')).loadNative()!;
    let calls = 0;
    const failing = {
      ...real,
      sha256Update: (state: object, bytes: Buffer) => (++calls === 2 ? Promise.reject(new Error('EVP failed')) : real.sha256Update!(state, bytes)),
    };
    const h = poolHash(failing)!;
    const ran: number[] = [];
    for (let i = 0; i < 5; i++) {
      h.update(randomBytes(1000));
      h.after(() => ran.push(i));
    }
    await expect(h.digest()).rejects.toThrow('EVP failed');
    expect(ran).toEqual([0, 1, 2, 3, 4]);
    expect(h.pending).toBe(0);
  });

  it.runIf(native)('pool: an update cannot overlap another on the same state, and the digest is taken once', async () => {
    const mod = (await import('../../src/format/native.js')).loadNative()!;
    const state = mod.sha256!();
    const p = mod.sha256Update!(state, randomBytes(1 << 20));
    expect(() => mod.sha256Update!(state, Buffer.from('x'))).toThrow(/already running/);
    expect(() => mod.sha256Digest!(state)).toThrow(/still running/);
    await p;
    expect(mod.sha256Digest!(state)).toHaveLength(32);
    expect(() => mod.sha256Digest!(state)).toThrow(/digest is taken/);
    expect(() => mod.sha256Update!(state, Buffer.from('x'))).toThrow(/digest is taken/);
    expect(() => mod.sha256Update!({}, Buffer.from('x'))).toThrow(/a digest state and a Buffer/);
  });
});
