import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { defaultInflater, type Inflater, nativeInflater, zlibInflater } from '../../src/format/inflate.js';
import { nativeModulePaths } from '../../src/format/native.js';

const hasCompiler = spawnSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' }).status === 0;
const native = nativeInflater();

/** What a member may hold: nothing, text, random bytes, long runs, and 1 MiB as the backup writes. */
const SAMPLES: Buffer[] = [
  Buffer.alloc(0),
  Buffer.from('{"type":"header"}\n'),
  randomBytes(70_000),
  Buffer.alloc(3_000_000, 0x61),
  Buffer.concat([Buffer.from('["row",1.5,null]\n'.repeat(40_000)), randomBytes(300_000)]),
];

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('inflating one gzip member', () => {
  it('libdeflate is built and loads here whenever there is a C compiler (npm ci builds it)', () => {
    if (!hasCompiler) {
      expect(native).toBeNull();
      return;
    }
    expect(nativeModulePaths().some((p) => existsSync(p))).toBe(true);
    expect(native?.name).toBe('libdeflate');
  });

  it('TURSO_BACKUP_INFLATE=zlib chooses node:zlib; otherwise the native module when it is there', () => {
    const saved = process.env.TURSO_BACKUP_INFLATE;
    try {
      process.env.TURSO_BACKUP_INFLATE = 'zlib';
      expect(defaultInflater()).toBe(zlibInflater);
      delete process.env.TURSO_BACKUP_INFLATE;
      expect(defaultInflater().name).toBe(native ? 'libdeflate' : 'zlib');
    } finally {
      if (saved === undefined) delete process.env.TURSO_BACKUP_INFLATE;
      else process.env.TURSO_BACKUP_INFLATE = saved;
    }
  });

  const backends = [zlibInflater, native].filter((i): i is Inflater => i !== null);

  it.each(backends)('$name gives back every sample byte for byte, at every compression level', async (inflater) => {
    for (const sample of SAMPLES) {
      for (const level of [1, 6, 9]) {
        const out = await inflater.inflate(gzipSync(sample, { level }));
        expect(out.equals(sample)).toBe(true);
      }
    }
  });

  it.each(backends)('$name rejects what zlib rejects, with zlib error codes', async (inflater) => {
    const member = gzipSync(SAMPLES[4]!);
    const crc = Buffer.from(member);
    crc[crc.length - 6]! ^= 0xff;
    const data = Buffer.from(member);
    data[400]! ^= 0x5a;
    const cut = member.subarray(0, member.length - 9);
    for (const bad of [crc, data, cut]) {
      const e = await rejection(inflater.inflate(bad));
      expect(e.code).toMatch(/^Z_/);
    }
  });

  it.skipIf(!native)('libdeflate leaves to zlib a member whose size lies, is too big to trust, or has bytes after it', async () => {
    const sample = SAMPLES[4]!;
    const member = gzipSync(sample);
    // A size that lies small or large: zlib inflates to the end and refuses the ISIZE, as before libdeflate.
    for (const size of [10, sample.length + 1, 0xffffffff]) {
      const lying = Buffer.from(member);
      lying.writeUInt32LE(size, lying.length - 4);
      expect((await rejection(native!.inflate(lying))).code).toMatch(/^Z_/);
    }
    // A bigger member than libdeflate allocates for (64 MiB) still inflates, through zlib.
    const big = Buffer.alloc(70 * 1024 * 1024, 0x62);
    expect((await native!.inflate(gzipSync(big, { level: 1 }))).equals(big)).toBe(true);
    // Two members in one buffer are more than one member: zlib reads both, as node:zlib always has.
    const two = Buffer.concat([gzipSync(Buffer.from('a')), gzipSync(Buffer.from('b'))]);
    expect((await native!.inflate(two)).toString()).toBe('ab');
  });

  it.skipIf(!native)('the module refuses arguments that are not two Buffers', async () => {
    const mod = (await import('node:module')).createRequire(import.meta.url)(nativeModulePaths().find((p) => existsSync(p))!) as {
      gunzip: (...a: unknown[]) => Promise<Buffer>;
    };
    expect(() => mod.gunzip('x', Buffer.alloc(1))).toThrow(TypeError);
    expect(() => mod.gunzip(Buffer.alloc(1))).toThrow(TypeError);
    expect((await rejection(mod.gunzip(Buffer.from('not gzip at all'), Buffer.alloc(4)))).code).toBe('LIBDEFLATE_BAD_DATA');
  });
});
