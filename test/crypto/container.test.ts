import { randomBytes } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createDecryptStream, createEncryptStream, DEFAULT_CHUNK_SIZE, ENCRYPTION_MAGIC, HEADER_LEN, isEncrypted } from '../../src/crypto/container.js';
import { BackupError, type ErrorCode } from '../../src/errors.js';

const KEY = randomBytes(32);
const FRAME_OVERHEAD = 4 + 16;

/** Small deterministic PRNG so a failing split pattern can be reproduced. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    s = (s ^ (s >>> 13)) >>> 0;
    return s % n;
  };
}

/** Cut `buf` into pieces of 0..maxPiece bytes (including empty writes). */
function split(buf: Buffer, rnd: (n: number) => number, maxPiece: number): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const n = rnd(maxPiece + 1);
    out.push(buf.subarray(off, off + n));
    off += n;
  }
  return out;
}

interface Result {
  out: Buffer;
  err?: unknown;
}

async function run(t: Transform, pieces: Buffer[]): Promise<Result> {
  const got: Buffer[] = [];
  try {
    await pipeline(Readable.from(pieces, { objectMode: false }), t, async (src: AsyncIterable<Buffer>) => {
      for await (const c of src) got.push(c);
    });
    return { out: Buffer.concat(got) };
  } catch (err) {
    return { out: Buffer.concat(got), err };
  }
}

async function encrypt(plain: Buffer, chunkSize?: number, seed = 1, maxPiece = 37): Promise<Buffer> {
  const r = await run(createEncryptStream(KEY, { chunkSize }), split(plain, prng(seed), maxPiece));
  if (r.err) throw r.err;
  return r.out;
}

async function decrypt(enc: Buffer, key = KEY, seed = 2, maxPiece = 41): Promise<Result> {
  return run(createDecryptStream(key), split(enc, prng(seed), maxPiece));
}

function expectError(r: Result, codes: ErrorCode[], plain?: Buffer): BackupError {
  expect(r.err).toBeInstanceOf(BackupError);
  const e = r.err as BackupError;
  expect(codes).toContain(e.code);
  // Whatever was emitted before the failure is authentic: a prefix of the real plaintext.
  if (plain) expect(plain.subarray(0, r.out.length).equals(r.out)).toBe(true);
  expect(e.message).not.toContain(KEY.toString('hex'));
  return e;
}

const framesFor = (n: number, cs: number) => Math.floor(n / cs) + 1;

describe('encrypted container round trip', () => {
  const cs = 16;
  for (const n of [0, 1, cs - 1, cs, cs + 1, 2 * cs, 5 * cs + 3, 1000]) {
    it(`${n} bytes, chunkSize ${cs}`, async () => {
      const plain = randomBytes(n);
      for (let seed = 1; seed <= 5; seed++) {
        const enc = await encrypt(plain, cs, seed, 1 + seed * 7);
        expect(isEncrypted(enc)).toBe(true);
        // Every frame but the last is full; the last is shorter (empty when n is a multiple of chunkSize).
        expect(enc.length).toBe(HEADER_LEN + framesFor(n, cs) * FRAME_OVERHEAD + n);
        const r = await decrypt(enc, KEY, seed + 100, 1 + seed * 5);
        expect(r.err).toBeUndefined();
        expect(r.out.equals(plain)).toBe(true);
      }
    });
  }

  it('random sizes and chunk sizes, byte-at-a-time feeding included', async () => {
    const rnd = prng(7);
    for (let i = 0; i < 60; i++) {
      const cs = 1 + rnd(100);
      const plain = randomBytes(rnd(1500));
      const enc = await encrypt(plain, cs, i, i % 10 === 0 ? 1 : 1 + rnd(300));
      expect(enc.length).toBe(HEADER_LEN + framesFor(plain.length, cs) * FRAME_OVERHEAD + plain.length);
      const r = await decrypt(enc, KEY, i + 1000, i % 10 === 1 ? 1 : 1 + rnd(300));
      expect(r.err).toBeUndefined();
      expect(r.out.equals(plain)).toBe(true);
    }
  });

  it('default chunk size, multi-megabyte input in large and odd pieces', async () => {
    const plain = randomBytes(3 * DEFAULT_CHUNK_SIZE * 10 + 12345);
    const enc = await encrypt(plain, undefined, 3, 200_000);
    expect(enc.readUInt32BE(9)).toBe(DEFAULT_CHUNK_SIZE);
    const r = await decrypt(enc, KEY, 4, 150_001);
    expect(r.err).toBeUndefined();
    expect(r.out.equals(plain)).toBe(true);
  });

  it('two encryptions of the same data differ (fresh salt and nonce prefix)', async () => {
    const plain = Buffer.from('hello');
    const [a, b] = [await encrypt(plain), await encrypt(plain)];
    expect(a.equals(b)).toBe(false);
    expect(a.subarray(13, 36).equals(b.subarray(13, 36))).toBe(false);
  });

  it('rejects out-of-range chunk sizes', () => {
    for (const cs of [0, -1, 1.5, 16 * 1024 * 1024 + 1]) {
      expect(() => createEncryptStream(KEY, { chunkSize: cs })).toThrow(BackupError);
    }
  });

  it('rejects keys that are not 32 bytes', () => {
    expect(() => createEncryptStream(randomBytes(16))).toThrow(BackupError);
    expect(() => createDecryptStream(randomBytes(31))).toThrow(BackupError);
  });
});

describe('isEncrypted', () => {
  it('sniffs the magic, never a gzip stream', async () => {
    expect(ENCRYPTION_MAGIC.toString('ascii')).toBe('TBKENC01');
    expect(isEncrypted(await encrypt(Buffer.from('x')))).toBe(true);
    expect(isEncrypted(gzipSync(Buffer.from('{"a":1}\n')))).toBe(false);
    expect(isEncrypted(ENCRYPTION_MAGIC.subarray(0, 7))).toBe(false);
    expect(isEncrypted(Buffer.alloc(0))).toBe(false);
  });
});

describe('encrypted container failures', () => {
  const cs = 16;
  const plain = randomBytes(2 * cs + 5); // frames: 16, 16, 5 (final)
  const frameStart = (i: number) => HEADER_LEN + i * (FRAME_OVERHEAD + cs);

  it('wrong key fails with DECRYPT before any output', async () => {
    const enc = await encrypt(plain, cs);
    for (const seed of [1, 2, 3]) {
      const r = await decrypt(enc, randomBytes(32), seed);
      const e = expectError(r, ['DECRYPT']);
      expect(e.message).toBe('wrong key, or the file was changed');
      expect(r.out.length).toBe(0);
    }
  });

  it('every single-bit flip is detected', async () => {
    const enc = await encrypt(plain, cs);
    for (let bit = 0; bit < enc.length * 8; bit++) {
      const bad = Buffer.from(enc);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expectError(await decrypt(bad, KEY, bit, 1 + (bit % 60)), ['DECRYPT', 'CORRUPT'], plain);
    }
  });

  it('header flips: version is CORRUPT, other checked fields DECRYPT with no output', async () => {
    const enc = await encrypt(plain, cs);
    const version = Buffer.from(enc);
    version[8] = 2;
    expect(expectError(await decrypt(version), ['CORRUPT']).message).toMatch(/unsupported encrypted container version 2/);
    for (let i = 9; i < HEADER_LEN; i++) {
      const bad = Buffer.from(enc);
      bad[i]! ^= 0x80;
      const r = await decrypt(bad);
      expectError(r, ['DECRYPT']);
      expect(r.out.length).toBe(0);
    }
  });

  it('truncation anywhere is an error; at a frame boundary or mid-frame it is CORRUPT truncated', async () => {
    const enc = await encrypt(plain, cs);
    for (let len = 0; len < enc.length; len++) {
      const r = await decrypt(enc.subarray(0, len), KEY, len, 1 + (len % 23));
      const e = expectError(r, ['CORRUPT'], plain);
      expect(e.message).toBe('encrypted file is truncated');
    }
    // Cut after complete non-final frames: they decrypt, but the missing final frame is noticed at the end.
    const t = createDecryptStream(KEY);
    const seen: Buffer[] = [];
    t.on('data', (c: Buffer) => seen.push(c));
    const failed = new Promise((resolve) => t.on('error', resolve));
    t.end(enc.subarray(0, frameStart(2)));
    expect(((await failed) as BackupError).code).toBe('CORRUPT');
    expect(Buffer.concat(seen).equals(plain.subarray(0, 2 * cs))).toBe(true);
  });

  it('dropping the empty final frame of an exact multiple is noticed', async () => {
    const exact = randomBytes(2 * cs);
    const enc = await encrypt(exact, cs);
    expect(enc.length - frameStart(2)).toBe(FRAME_OVERHEAD);
    expect((await decrypt(enc)).out.equals(exact)).toBe(true);
    expect(expectError(await decrypt(enc.subarray(0, frameStart(2))), ['CORRUPT']).message).toMatch(/truncated/);
  });

  it('swapped, duplicated or dropped frames fail', async () => {
    const enc = await encrypt(randomBytes(3 * cs + 1), cs);
    const f = (i: number) => enc.subarray(frameStart(i), frameStart(i + 1));
    const head = enc.subarray(0, HEADER_LEN);
    const last = enc.subarray(frameStart(3));
    const variants = [
      [head, f(1), f(0), f(2), last], // swap
      [head, f(0), f(0), f(1), f(2), last], // duplicate
      [head, f(0), f(2), last], // drop a middle frame
      [head, f(0), f(1), f(2), f(2), last], // replay
    ];
    // The header proved the key right: a frame that fails its tag is a changed file (CORRUPT, so verify exits 3).
    for (const parts of variants) expect(expectError(await decrypt(Buffer.concat(parts)), ['CORRUPT']).message).toMatch(/was changed/);
  });

  it('frames from another file under the same key fail', async () => {
    const a = await encrypt(plain, cs);
    const b = await encrypt(plain, cs);
    const spliced = Buffer.concat([a.subarray(0, frameStart(1)), b.subarray(frameStart(1))]);
    expectError(await decrypt(spliced), ['CORRUPT']);
  });

  it('trailing bytes after the final frame fail', async () => {
    const enc = await encrypt(plain, cs);
    for (const extra of [Buffer.from([0]), randomBytes(100), enc.subarray(frameStart(2))]) {
      const r = await decrypt(Buffer.concat([enc, extra]));
      expect(expectError(r, ['CORRUPT'], plain).message).toMatch(/trailing data/);
    }
    // Also when the garbage arrives as a separate write after the final frame was processed.
    const r = await run(createDecryptStream(KEY), [enc, Buffer.from('x')]);
    expectError(r, ['CORRUPT'], plain);
  });

  it('an oversized frame length is refused without buffering it', async () => {
    const enc = await encrypt(plain, cs);
    const bad = Buffer.from(enc);
    bad.writeUInt32BE(0xffffffff, frameStart(0));
    expectError(await decrypt(bad), ['CORRUPT']);
  });

  it('a plain gzip file or a short non-container input is CORRUPT', async () => {
    const gz = gzipSync(Buffer.from('{"a":1}\n'.repeat(100)));
    expect(expectError(await decrypt(gz), ['CORRUPT']).message).toMatch(/not an encrypted backup/);
    expect(expectError(await decrypt(Buffer.from([0x1f, 0x8b])), ['CORRUPT']).message).toMatch(/not an encrypted/);
    expect(expectError(await decrypt(Buffer.alloc(0)), ['CORRUPT']).message).toMatch(/truncated/);
  });
});
