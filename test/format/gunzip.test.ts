import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../../src/errors.js';
import { declaredLength, gunzipMembers } from '../../src/format/gunzip.js';
import { gzipBlocks, markedMemberParts } from '../../src/format/gzip.js';
import { type Inflater, nativeInflater, zlibInflater } from '../../src/format/inflate.js';

/** Every backend built here (test/format/inflate.test.ts checks that libdeflate is, given a C compiler). */
const INFLATERS = [zlibInflater, nativeInflater()].filter((i): i is Inflater => i !== null);
/** The backend of the suite running now (the suites run one after the other). */
let inflater: Inflater = zlibInflater;

/**
 * Bytes that do not compress, the same in every run: damage at a fixed offset then lands on the same deflate data
 * each time (with random bytes, a run now and then read the damaged member without an error).
 */
function noise(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let h = Buffer.from(`seed ${seed}`);
  for (let o = 0; o < n; o += 32) {
    h = createHash('sha256').update(h).digest();
    h.copy(out, o);
  }
  return out;
}

/** Text that compresses, with some noise so members differ in size. */
function blocks(n: number, size = 50_000): Buffer[] {
  return Array.from({ length: n }, (_, i) => Buffer.concat([Buffer.from(`block ${i} `.repeat(size / 10)), noise(size / 10, i)]));
}

async function* each(parts: Buffer[]): AsyncGenerator<Buffer> {
  yield* parts;
}

/** One member per part. */
/** The members gzipBlocks writes for `parts` (it hands each one on in two parts: cut where each declares it ends). */
async function compressed(parts: Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const m of gzipBlocks({ level: 2, blockBytes: 1 << 20, parallel: 2 })(each(parts))) out.push(m);
  const file = Buffer.concat(out);
  const members: Buffer[] = [];
  for (let at = 0; at < file.length; ) {
    const n = declaredLength(file.subarray(at, at + 20));
    if (n === null) throw new Error(`a member at ${at} does not declare its length`);
    members.push(file.subarray(at, at + n));
    at += n;
  }
  expect(members).toHaveLength(parts.length);
  return members;
}

/** `bytes` delivered in chunks of `size` (odd sizes cut headers and lengths in two). */
async function* chunks(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(source: AsyncIterable<Buffer>, parallel = 3): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of gunzipMembers(source, { parallel, inflater })) out.push(c);
  return Buffer.concat(out);
}

async function failure(source: AsyncIterable<Buffer>): Promise<BackupError> {
  try {
    await collect(source);
  } catch (e) {
    return e as BackupError;
  }
  throw new Error('expected a failure');
}

describe.each(INFLATERS)('gzip members that declare their length, inflated by $name', (backend) => {
  beforeAll(() => {
    inflater = backend;
  });

  it('every member the backup writes declares its exact length, and any gunzip reads the file', async () => {
    const parts = blocks(5);
    const members = await compressed(parts);
    for (const m of members) expect(declaredLength(m.subarray(0, 20))).toBe(m.length);
    expect(gunzipSync(Buffer.concat(members)).equals(Buffer.concat(parts))).toBe(true);
  });

  it('inflates them in order, whatever the chunking and the parallelism', async () => {
    const parts = blocks(9);
    const file = Buffer.concat(await compressed(parts));
    for (const [size, parallel] of [
      [1 << 20, 3],
      [7, 2],
      [19, 1],
      [4096, 4],
    ] as const) {
      expect((await collect(chunks(file, size), parallel)).equals(Buffer.concat(parts))).toBe(true);
    }
  });

  it('reads members without the field (older dumps, other writers) through one streaming gunzip, also after marked ones', async () => {
    const parts = blocks(6);
    const plain = parts.map((p) => gzipSync(p));
    expect(declaredLength(plain[0]!.subarray(0, 20))).toBeNull();
    const marked = await compressed(parts.slice(0, 3));
    for (const file of [Buffer.concat(plain), Buffer.concat([...marked, ...plain.slice(3)])]) {
      expect((await collect(chunks(file, 1000))).equals(Buffer.concat(parts))).toBe(true);
    }
  });

  it('a member zlib wrote with header flags is left as it is', () => {
    const m = gzipSync(Buffer.from('x'));
    m[3] = 0x08; // FNAME: not ours to rewrite
    expect(markedMemberParts(m)).toEqual([m]);
    expect(markedMemberParts(m)[0]).toBe(m);
  });

  it('a file cut inside a member is truncated; cut at a member boundary it is valid gzip (the dump reader refuses it)', async () => {
    const parts = blocks(4);
    const members = await compressed(parts);
    const file = Buffer.concat(members);
    for (const cut of [file.length - 1, members[0]!.length + 10, members[0]!.length + 25, 5]) {
      const e = await failure(chunks(file.subarray(0, cut), 999));
      expect(e).toBeInstanceOf(BackupError);
      expect(e.code).toBe('CORRUPT');
      expect(e.message).toMatch(/truncated/);
    }
    const two = Buffer.concat(members.slice(0, 2));
    expect((await collect(chunks(two, 999))).equals(Buffer.concat(parts.slice(0, 2)))).toBe(true);
  });

  it('a damaged member is CORRUPT, after the members before it were given out', async () => {
    const parts = blocks(5);
    const members = await compressed(parts);
    const bad = Buffer.from(members[3]!);
    bad[bad.length - 6]! ^= 0xff; // inside the CRC-32
    const got: Buffer[] = [];
    let err: unknown;
    try {
      for await (const c of gunzipMembers(chunks(Buffer.concat([...members.slice(0, 3), bad, members[4]!]), 5000), { parallel: 3, inflater })) got.push(c);
    } catch (e) {
      err = e;
    }
    expect((err as BackupError).code).toBe('CORRUPT');
    expect((err as BackupError).message).toMatch(/damaged/);
    expect(Buffer.concat(got).equals(Buffer.concat(parts.slice(0, 3)))).toBe(true);
  });

  it('a member its length frames exactly but whose bytes are damaged is CORRUPT before any of its bytes are given out', async () => {
    // Members as big as the backup writes (1 MiB): a streaming gunzip would give most of one out before its CRC-32.
    const parts = blocks(3, 1_000_000);
    const members = await compressed(parts);
    for (const [at, where] of [
      [1, -6], // inside the CRC-32
      [1, 300], // inside the deflate data
      [2, -6], // the last member
    ] as const) {
      const bad = members.map((m) => Buffer.from(m));
      bad[at]![where < 0 ? bad[at]!.length + where : where]! ^= 0x5a;
      for (const parallel of [1, 3]) {
        const got: Buffer[] = [];
        let err: unknown;
        try {
          for await (const c of gunzipMembers(chunks(Buffer.concat(bad), 65_536), { parallel, inflater })) got.push(c);
        } catch (e) {
          err = e;
        }
        expect((err as BackupError).code).toBe('CORRUPT');
        expect((err as BackupError).message).toMatch(/gzip stream is damaged/);
        expect(Buffer.concat(got).equals(Buffer.concat(parts.slice(0, at)))).toBe(true);
      }
    }
  });

  it('a member whose declared length lies is read as any gzip reader reads it; real damage and trailing bytes are CORRUPT', async () => {
    // Only our writer sets the length, and nothing checks it: a valid gzip file is read whatever it says (gzip -t passes).
    const parts = blocks(4);
    const members = await compressed(parts);
    for (const [at, delta] of [
      [1, -3],
      [1, 5],
      [1, 1 << 20],
      [3, 7],
      [0, -19],
    ] as const) {
      const lying = members.map((m) => Buffer.from(m));
      lying[at]!.writeUInt32LE(lying[at]!.length + delta, 16);
      for (const parallel of [1, 3]) expect((await collect(chunks(Buffer.concat(lying), 4096), parallel)).equals(Buffer.concat(parts))).toBe(true);
    }
    const flipped = Buffer.concat(members);
    flipped[members[0]!.length + 200]! ^= 0xff;
    expect((await failure(chunks(flipped, 4096))).code).toBe('CORRUPT');
    const cut = Buffer.concat(members).subarray(0, members[0]!.length + members[1]!.length + 100);
    expect((await failure(chunks(cut, 4096))).message).toMatch(/truncated/);
    const e = await failure(chunks(Buffer.concat([...members, Buffer.from('trailing bytes')]), 4096));
    expect(e.code).toBe('CORRUPT');
  });

  it('leaving early stops the source', async () => {
    const file = Buffer.concat(await compressed(blocks(8)));
    let stopped = false;
    async function* source() {
      try {
        yield* chunks(file, 10_000);
      } finally {
        stopped = true;
      }
    }
    for await (const _ of gunzipMembers(source(), { parallel: 3, inflater })) break;
    expect(stopped).toBe(true);
  });
});
