import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { declaredLength, gunzipMembers } from '../../src/format/gunzip.js';
import { DEFAULT_GZIP, defaultDeflater, type Deflater, gzipBlocks, gzipOptions, LENGTH_SUBFIELD, nativeDeflater, zlibDeflater } from '../../src/format/gzip.js';
import { type Inflater, nativeInflater, zlibInflater } from '../../src/format/inflate.js';
import { loadNative } from '../../src/format/native.js';

const hasCompiler = spawnSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' }).status === 0;
const native = nativeDeflater();
const DEFLATERS = [zlibDeflater, native].filter((d): d is Deflater => d !== null);
const INFLATERS = [zlibInflater, nativeInflater()].filter((i): i is Inflater => i !== null);

/** What a block may hold: nothing, one line, random bytes, long runs, and 1 MiB of rows as the backup writes. */
const SAMPLES: Buffer[] = [
  Buffer.alloc(0),
  Buffer.from('{"type":"header"}\n'),
  randomBytes(70_000),
  Buffer.alloc(3_000_000, 0x61),
  Buffer.concat([Buffer.from('["row",1.5,null,"caf\u00e9"]\n'.repeat(30_000)), randomBytes(300_000)]).subarray(0, 1 << 20),
];

async function* each(parts: Buffer[]): AsyncGenerator<Buffer> {
  yield* parts;
}

describe('compressing a block into one gzip member', () => {
  it('libdeflate compresses here whenever there is a C compiler (npm ci builds it)', () => {
    expect(native?.name ?? null).toBe(hasCompiler ? 'libdeflate' : null);
  });

  it('TURSO_BACKUP_INFLATE=zlib chooses node:zlib; otherwise the native module when it is there', () => {
    const saved = process.env.TURSO_BACKUP_INFLATE;
    try {
      process.env.TURSO_BACKUP_INFLATE = 'zlib';
      expect(defaultDeflater()).toBe(zlibDeflater);
      delete process.env.TURSO_BACKUP_INFLATE;
      expect(defaultDeflater().name).toBe(native ? 'libdeflate' : 'zlib');
    } finally {
      if (saved === undefined) delete process.env.TURSO_BACKUP_INFLATE;
      else process.env.TURSO_BACKUP_INFLATE = saved;
    }
  });

  it.each(DEFLATERS)('$name writes a member marked with its length that every gunzip reads, at every level', async (deflater) => {
    for (const sample of SAMPLES) {
      for (const level of [1, 2, 6, 9]) {
        const member = Buffer.concat(await deflater.member(sample, level));
        // The header zlib writes on Unix, with the FEXTRA field holding the member's length (format/gzip.ts).
        expect([...member.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0x04]);
        expect(member.readUInt32LE(4)).toBe(0); // no time: the same block gives the same member
        expect(member[9]).toBe(3);
        expect(member.readUInt16LE(10)).toBe(8);
        expect([member[12], member[13]]).toEqual([...LENGTH_SUBFIELD]);
        expect(declaredLength(member.subarray(0, 20))).toBe(member.length);
        expect(gunzipSync(member).equals(sample)).toBe(true);
        for (const inflater of INFLATERS) expect((await inflater.inflate(member)).equals(sample)).toBe(true);
        // Never much more than the block: random bytes go as stored blocks (5 bytes per 16-64 KiB).
        expect(member.length).toBeLessThan(sample.length + sample.length / 1000 + 64);
      }
    }
  });

  it.each(DEFLATERS)('$name: gzipBlocks keeps the order with several in flight, and gives each block back once compressed', async (deflater) => {
    const blocks = Array.from({ length: 9 }, (_, i) => Buffer.concat([Buffer.from(`block ${i} `.repeat(5000)), randomBytes(i * 3000)]));
    const released: Buffer[] = [];
    const out: Buffer[] = [];
    for await (const part of gzipBlocks({ level: 2, blockBytes: 1 << 20, parallel: 3 }, (b) => released.push(b), deflater)(each(blocks))) out.push(part);
    expect(new Set(released)).toEqual(new Set(blocks));
    const file = Buffer.concat(out);
    expect(gunzipSync(file).equals(Buffer.concat(blocks))).toBe(true);
    for (const inflater of INFLATERS) {
      const got: Buffer[] = [];
      for await (const c of gunzipMembers(each([file]), { parallel: 3, inflater })) got.push(c);
      expect(Buffer.concat(got).equals(Buffer.concat(blocks))).toBe(true);
    }
  });

  it('the same block gives the same member again (no time, no state carried from one block to the next)', async () => {
    for (const deflater of DEFLATERS) {
      const a = Buffer.concat(await deflater.member(SAMPLES[4]!, 2));
      await deflater.member(SAMPLES[2]!, 6); // another level in between, on whichever pool thread
      expect(Buffer.concat(await deflater.member(SAMPLES[4]!, 2)).equals(a)).toBe(true);
    }
  });

  it('a member stays as it is until it is handed back (reuse), and its memory then holds a later member', async () => {
    for (const deflater of DEFLATERS) {
      const first = await deflater.member(SAMPLES[4]!, 2);
      const copy = Buffer.from(Buffer.concat(first));
      // More members while the first is still being written: none may be compressed into its memory.
      for (let i = 0; i < 6; i++) await deflater.member(SAMPLES[2]!, 2);
      expect(Buffer.concat(first).equals(copy)).toBe(true);
      expect(gunzipSync(Buffer.concat(first)).equals(SAMPLES[4]!)).toBe(true);
      for (const part of first) deflater.reuse?.(part);
      const later = await deflater.member(SAMPLES[4]!, 2);
      if (deflater.name === 'libdeflate') expect(later[0]!.buffer).toBe(first[0]!.buffer); // the same output, used again
      expect(Buffer.concat(later).equals(copy)).toBe(true);
    }
  });

  it.runIf(native !== null)('a member of a block over REUSE_MAX (a large row) is its own copy: the output is kept at once', async () => {
    const deflater = nativeDeflater()!;
    const first = await deflater.member(SAMPLES[3]!, 2);
    // Never handed back, yet the next large block is compressed into the same output: the first member must be a
    // copy of its own (compared by content: a small copy may share Node's buffer pool with another).
    const other = randomBytes(SAMPLES[3]!.length);
    const second = await deflater.member(other, 2);
    expect(gunzipSync(Buffer.concat(first)).equals(SAMPLES[3]!)).toBe(true);
    expect(gunzipSync(Buffer.concat(second)).equals(other)).toBe(true);
  });

  it.runIf(native !== null)('the native call refuses what it cannot do: an output too small, a level out of range, not a Buffer', async () => {
    const mod = loadNative()!;
    const block = SAMPLES[2]!;
    await expect(mod.gzip!(block, Buffer.alloc(100), 2)).rejects.toThrow(/did not compress/);
    expect(() => mod.gzip!(block, Buffer.alloc(mod.gzipBound!(block.length)), 13)).toThrow(/level from 0 to 12/);
    expect(() => mod.gzip!('text' as unknown as Buffer, Buffer.alloc(10), 2)).toThrow(/two Buffers/);
    expect(mod.gzipBound!(block.length)).toBeGreaterThan(block.length + 28);
  });
});

/**
 * 1 MiB of JSON documents' row lines, as the bench's `documents` shape writes them (escaped quotes, ids hashed from
 * the row number): text that both libdeflate and zlib write 18–26 % smaller at level 6 than at level 2.
 */
function documentsBlock(seed: number): Buffer {
  const hex = (n: number, m: number) => ((n * m) % 4294967296).toString(16).padStart(8, '0');
  const lines: string[] = [];
  let length = 0;
  for (let i = seed * 100; length < 1 << 20; i++) {
    const blocks = Array.from({ length: 40 }, (_, k) => ({
      type: 'paragraph',
      id: `b${k}`,
      text: `Line ${k} of document ${i}: the "quick" brown fox\\tjumps over the lazy dog. ${hex(i * 40 + k, 2246822519)}${hex(i * 40 + k, 3266489917)}`,
      meta: { bold: k % 2, size: k * 1.5 },
    }));
    const doc = { version: 3, title: `Document ${i}`, tags: ['alpha', 'beta', 'gamma "quoted"'], blocks };
    const line = `${JSON.stringify([`doc_${hex(i, 2654435761)}`, `user_${i % 5000}`, JSON.stringify(doc), 1700000000000 + i])}\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, 1 << 20);
}

describe('the level of each member', () => {
  it("is the operator's when given; by default level 2, with level 6 tried", () => {
    expect(gzipOptions()).toEqual(DEFAULT_GZIP);
    expect(DEFAULT_GZIP).toMatchObject({ level: 2, higher: 6 });
    expect(gzipOptions({ level: 2 }).higher).toBeUndefined();
    expect(gzipOptions({ level: 9 })).toMatchObject({ level: 9, higher: undefined, blockBytes: DEFAULT_GZIP.blockBytes });
  });

  it.each(DEFLATERS.map((d) => [d.name, d] as const))(
    '%s: the higher level follows a trial where it writes 15 per cent less, the lower one where it does not; the stream is the same bytes',
    async (_, deflater) => {
      for (const [kind, make, want] of [
        ['JSON documents', documentsBlock, 6],
        ['random bytes', (i: number) => randomBytes(1 << 16).fill(i & 255, 0, 100), 2],
      ] as const) {
        const levels: number[] = [];
        const spy: Deflater = {
          ...deflater,
          member: (block, level) => {
            levels.push(level);
            return deflater.member(block, level);
          },
        };
        const blocks = Array.from({ length: 70 }, (_, i) => make(i + 1));
        const out: Buffer[] = [];
        for await (const part of gzipBlocks(DEFAULT_GZIP, () => {}, spy)(each(blocks))) out.push(Buffer.from(part));
        expect(gunzipSync(Buffer.concat(out)).equals(Buffer.concat(blocks)), kind).toBe(true);
        // Two trials (blocks 0 and 64): each compresses its block at both levels.
        expect(levels.length, kind).toBe(72);
        expect(levels.slice(-3), kind).toEqual([want, want, want]);
        expect(
          levels.filter((l) => l !== 2 && l !== 6),
          kind,
        ).toEqual([]);
      }
    },
  );
});
