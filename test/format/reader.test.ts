import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../../src/errors.js';
import { poolHash, type StreamHash, threadHash } from '../../src/format/hash.js';
import { FORMAT_VERSION } from '../../src/format/lines.js';
import { HASH_BEHIND, readDump } from '../../src/format/reader.js';
import { backupToFile, buildTinyDb, chunks, collectEvents, dumpLines, gunzipFile, rejection, reseal, tempDirs } from '../support/dumps.js';

const dirs = tempDirs('tb-reader-');
let dump: Buffer; // the uncompressed NDJSON of a small real dump
let lines: string[];
let reference: string[];

beforeAll(async () => {
  const dir = dirs.make();
  const db = join(dir, 'tiny.db');
  buildTinyDb(db);
  const out = join(dir, 'tiny.ndjson.gz');
  await backupToFile(db, out);
  dump = gunzipFile(out);
  lines = dumpLines(dump);
  reference = await collectEvents(readDump(chunks(dump, [])));
});
afterAll(() => dirs.cleanup());

const read = (buf: Buffer, cuts: number[] = [], opts?: { checksums?: boolean }) => collectEvents(readDump(chunks(buf, cuts), opts));

async function corrupt(buf: Buffer | Promise<unknown>, code = 'CORRUPT'): Promise<string> {
  const e = await rejection(Buffer.isBuffer(buf) ? read(buf) : buf);
  expect(e, String(e)).toBeInstanceOf(BackupError);
  expect((e as BackupError).code, e.message).toBe(code);
  return e.message;
}

/** Index of the first row line of table `name`. */
const firstRowOf = (name: string) => lines.findIndex((l) => l.startsWith('{"type":"table"') && JSON.parse(l).name === name) + 1;
const join_ = (ls: string[]) => Buffer.from(`${ls.join('\n')}\n`);

describe('readDump', () => {
  it('reads a real dump: header, each table section with its rows, end lines, trailer', () => {
    expect(reference[0]).toBe('header alpha:3,beta table:2');
    expect(reference.filter((e) => e.startsWith('row ')).length).toBe(5);
    expect(reference.filter((e) => e.startsWith('end ')).map((e) => e.split(' ').slice(1, -1).join(' '))).toEqual(['alpha 3', 'beta table 2']);
    expect(reference[reference.length - 1]).toMatch(/^trailer 2 5 [0-9a-f]{64}$/);
  });

  it('gives the same events wherever the chunk boundaries fall (every byte, one-byte chunks, random cuts)', async () => {
    expect(dump.length).toBeLessThan(20_000); // keep the sweep cheap
    for (let i = 0; i <= dump.length; i++) {
      const got = await read(dump, [i]);
      if (got.join('\n') !== reference.join('\n')) expect({ cut: i, got }).toEqual({ cut: i, got: reference });
    }
    const every = Array.from({ length: dump.length - 1 }, (_, i) => i + 1);
    expect(await read(dump, every)).toEqual(reference);
    let s = 12345;
    const rnd = (n: number) => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s % n;
    };
    for (let round = 0; round < 200; round++) {
      const cuts: number[] = [];
      for (let at = rnd(64); at < dump.length; at += rnd(300)) cuts.push(at); // empty chunks included
      expect(await read(dump, cuts)).toEqual(reference);
    }
  });

  it('gives each piece back once, and only when no event can read it any more (a given-back piece is overwritten)', async () => {
    let s = 777;
    const rnd = (n: number) => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s % n;
    };
    const cutSets = [Array.from({ length: dump.length - 1 }, (_, i) => i + 1), [], [dump.length >> 1]];
    for (let round = 0; round < 100; round++) {
      const cuts: number[] = [];
      for (let at = rnd(64); at < dump.length; at += rnd(400)) cuts.push(at);
      cutSets.push(cuts);
    }
    // The whole-stream hash on the thread pool reads pieces after the reader has moved on: they go back only after.
    for (const [cuts, wholeHash] of cutSets.flatMap((c) => [threadHash(), poolHash()].filter((h) => h !== null).map((h) => [c, h] as const))) {
      const pieces: Buffer[] = [];
      async function* owned() {
        for await (const c of chunks(dump, cuts)) {
          const own = Buffer.allocUnsafeSlow(c.length); // each piece its own memory, as the inflater's buffers are
          c.copy(own);
          pieces.push(own);
          yield own;
        }
      }
      const released = new Map<ArrayBufferLike, number>();
      const release = (piece: Buffer) => {
        released.set(piece.buffer, (released.get(piece.buffer) ?? 0) + 1);
        new Uint8Array(piece.buffer).fill(0x7e); // as if another member were inflated into it
      };
      expect(await collectEvents(readDump(owned(), { release, wholeHash }))).toEqual(reference);
      for (const p of pieces.filter((x) => x.length > 0)) expect(released.get(p.buffer), `cuts ${cuts.length}`).toBe(1);
    }
  });

  it('waits for a whole-stream hash that falls behind, so what it holds stays bounded', async () => {
    // A 14 MB dump (one table's row repeated) read in 1 MiB pieces, through a hash that lags until drained.
    const at = firstRowOf('alpha');
    const big = reseal([...lines.slice(0, at), ...Array.from({ length: 160_000 }, () => `[7,${JSON.stringify('x'.repeat(80))}]`), ...lines.slice(at)], {
      headerCounts: true,
    });
    const inner = threadHash();
    let pending = 0;
    let most = 0;
    const lagging: StreamHash = {
      update(b) {
        inner.update(b);
        pending += b.length;
        most = Math.max(most, pending);
      },
      after: (fn) => fn(),
      get pending() {
        return pending;
      },
      async drain(bytes) {
        await new Promise((r) => setTimeout(r, 1));
        pending = Math.min(pending, bytes);
      },
      digest: () => inner.digest(),
    };
    const cuts = Array.from({ length: Math.floor(big.length / 2 ** 20) }, (_, i) => (i + 1) * 2 ** 20);
    const events = await collectEvents(readDump(chunks(big, cuts), { wholeHash: lagging }));
    expect(events[events.length - 1]).toMatch(/^trailer /);
    expect(big.length).toBeGreaterThan(3 * HASH_BEHIND);
    expect(most).toBeLessThanOrEqual(HASH_BEHIND + 2 ** 20 + 4096); // a piece, and a line carried across pieces
  });

  it('a dump refused halfway gives back, once each, what the thread-pool hash read, and leaves no update behind', async () => {
    const hash = poolHash();
    if (!hash) return; // no native module here: nothing runs on the thread pool
    const bad = Buffer.from(dump);
    const at = bad.indexOf('\n[') + 1; // the first row line
    expect(bad[at + 1]).toBeGreaterThanOrEqual(0x30);
    bad[at + 1] = bad[at + 1] === 0x31 ? 0x32 : 0x31; // its first digit: its table's checksum fails
    const released = new Map<ArrayBufferLike, number>();
    async function* owned() {
      for await (const c of chunks(
        bad,
        Array.from({ length: 40 }, (_, i) => (i + 1) * 97),
      )) {
        const own = Buffer.allocUnsafeSlow(c.length);
        c.copy(own);
        yield own;
      }
    }
    const release = (piece: Buffer) => released.set(piece.buffer, (released.get(piece.buffer) ?? 0) + 1);
    expect(await corrupt(collectEvents(readDump(owned(), { release, wholeHash: hash })))).toMatch(/checksum/);
    await hash.drain(0);
    expect(hash.pending).toBe(0);
    expect(released.size).toBeGreaterThan(0);
    for (const n of released.values()) expect(n).toBe(1);
  });

  it('accepts string chunks as well as buffers', async () => {
    async function* asStrings() {
      yield dump.toString('utf8');
    }
    expect(await collectEvents(readDump(asStrings()))).toEqual(reference);
  });

  it('refuses a dump cut at any line boundary (a clean prefix without its trailer)', async () => {
    for (let k = 0; k < lines.length; k++) {
      const msg = await corrupt(join_(lines.slice(0, k)).subarray(0, k === 0 ? 0 : undefined));
      if (k === 0) expect(msg).toMatch(/empty/);
      else expect(msg).toMatch(/incomplete dump/);
    }
    // Ending inside a table names it.
    const inAlpha = firstRowOf('alpha') + 1;
    expect(await corrupt(join_(lines.slice(0, inAlpha)))).toMatch(/table "alpha"/);
  });

  it('refuses a dump cut in the middle of a line', async () => {
    let offset = 0;
    for (const line of lines) {
      for (const within of [1, Math.floor(line.length / 2), line.length - 1]) {
        if (within <= 0 || within >= line.length) continue;
        const cut = dump.subarray(0, offset + within);
        const msg = await corrupt(cut);
        expect(msg).toMatch(/truncated|incomplete|not valid JSON/);
      }
      offset += Buffer.byteLength(line) + 1;
    }
  });

  it('refuses a row with a flipped bit, naming its table', async () => {
    const at = firstRowOf('beta table');
    const row = Buffer.from(lines[at]!);
    row[3]! ^= 0x01;
    const edited = [...lines];
    edited[at] = row.toString('latin1');
    const msg = await corrupt(join_(edited));
    expect(msg).toMatch(/table "beta table": checksum mismatch/);
  });

  it('refuses a row with one changed digit, naming its table', async () => {
    const at = firstRowOf('alpha');
    expect(lines[at]).toMatch(/^\[1,/);
    const edited = [...lines];
    edited[at] = lines[at]!.replace(/^\[1,/, '[7,');
    expect(await corrupt(join_(edited))).toMatch(/table "alpha": checksum mismatch/);
    // Without checksums (the second pass of a restore) the edit goes through: that pass is verified another way.
    expect((await read(join_(edited), [], { checksums: false })).some((e) => e.startsWith('row [7,'))).toBe(true);
  });

  it('refuses a changed end-line count or a dropped row even when every checksum is recomputed', async () => {
    const at = firstRowOf('alpha');
    const dropped = [...lines];
    dropped.splice(at, 1);
    expect(await corrupt(reseal(dropped))).toMatch(/table "alpha": expected 3 rows \(header\)/);
    const extra = [...lines];
    extra.splice(at, 0, '[99,"extra",null]');
    expect(await corrupt(reseal(extra))).toMatch(/table "alpha"/);
  });

  it('refuses a missing trailer, a changed trailer, and a trailer before a section ends', async () => {
    expect(await corrupt(join_(lines.slice(0, -1)))).toMatch(/no trailer/);
    const t = JSON.parse(lines[lines.length - 1]!);
    const wrongSha = [...lines.slice(0, -1), JSON.stringify({ ...t, sha256: '0'.repeat(64) })];
    expect(await corrupt(join_(wrongSha))).toMatch(/whole-file checksum/);
    for (const wholeHash of [threadHash(), poolHash()]) {
      if (wholeHash) expect(await corrupt(collectEvents(readDump(chunks(join_(wrongSha), [100]), { wholeHash })))).toMatch(/whole-file checksum/);
    }
    const flipped = Buffer.from(dump);
    flipped[lines[0]!.indexOf('CREATE') + 5]! ^= 0x20; // `CREATe`: still the header, only the whole-stream checksum sees it
    expect(await corrupt(flipped)).toMatch(/whole-file checksum/);
    const wrongRows = [...lines.slice(0, -1), JSON.stringify({ ...t, rows: t.rows + 1 })];
    expect(await corrupt(reseal(wrongRows, { keepCounts: true }))).toMatch(/trailer counts/);
    const early = [...lines];
    early.splice(firstRowOf('alpha') + 1, 0, lines[lines.length - 1]!);
    expect(await corrupt(join_(early))).toBeTruthy();
  });

  it('never shows what a damaged structural line holds: its type, a name or a checksum the header does not know', async () => {
    const SECRET = 'alice@example.com';
    const at = firstRowOf('alpha');
    const start = lines.findIndex((l) => l.startsWith('{"type":"table"'));
    const end = lines.findIndex((l) => l.startsWith('{"type":"end"'));
    const edits: [number, (o: Record<string, unknown>) => Record<string, unknown>][] = [
      [at, () => ({ type: SECRET })],
      [start, (o) => ({ ...o, name: SECRET })],
      [end, (o) => ({ ...o, name: SECRET })],
      [end, (o) => ({ ...o, sha256: SECRET })],
      [end, (o) => ({ ...o, rows: SECRET })],
      [lines.length - 1, (o) => ({ ...o, sha256: SECRET })],
      [lines.length - 1, (o) => ({ ...o, rows: SECRET, tables: SECRET })],
    ];
    for (const [i, edit] of edits) {
      const edited = [...lines];
      edited[i] = i === at ? JSON.stringify(edit({})) : JSON.stringify(edit(JSON.parse(lines[i]!)));
      expect(await corrupt(join_(edited)), edited[i]).not.toContain(SECRET);
      // Checksums recomputed: the line itself is what is refused (where resealing made it whole again, nothing is).
      const resealed = await read(reseal(edited, { keepCounts: true })).then(
        () => null,
        (e: Error) => e,
      );
      if (resealed) expect(resealed.message, edited[i]).not.toContain(SECRET);
    }
  });

  it('refuses anything after the trailer', async () => {
    const tails = [
      '{"type":"table","name":"alpha","columns":["id"]}\n',
      '[1,2,3]\n',
      `${lines[lines.length - 1]}\n`, // a second trailer
      '\n',
      'garbage without newline',
      '{',
    ];
    for (const tail of tails) {
      const buf = Buffer.concat([dump, Buffer.from(tail)]);
      expect(await corrupt(buf), JSON.stringify(tail)).toMatch(/after the trailer/);
      // …and in a chunk of its own.
      expect(await corrupt(read(buf, [dump.length])), JSON.stringify(tail)).toMatch(/after the trailer/);
    }
  });

  it('refuses a dump of a newer format version as UNSUPPORTED, before reading further', async () => {
    const h = JSON.parse(lines[0]!);
    const newer = reseal([JSON.stringify({ ...h, version: FORMAT_VERSION + 1 }), ...lines.slice(1)]);
    expect(await corrupt(read(newer), 'UNSUPPORTED')).toMatch(/newer/);
  });

  it('refuses input that is not one of our dumps', async () => {
    const h = JSON.parse(lines[0]!);
    const cases: [string, Buffer][] = [
      ['other format', reseal([JSON.stringify({ ...h, format: 'someone-else' }), ...lines.slice(1)])],
      ['no format', Buffer.from('{"type":"header"}\n')],
      ['not a header first', Buffer.from(`${lines[1]}\n${lines[0]}\n`)],
      ['a row first', Buffer.from('[1,2]\n')],
      ['plain JSON object', Buffer.from('{"a":1}\n')],
      ['not JSON', Buffer.from('{not json}\n')],
      ['text', Buffer.from('hello world\n')],
      ['header without tables', Buffer.from(`${JSON.stringify({ ...h, tables: 'x' })}\n`)],
      [
        'table not in the header',
        reseal([lines[0]!, '{"type":"table","name":"zeta","columns":["a"]}', '{"type":"end","name":"zeta","rows":0,"sha256":""}', lines[lines.length - 1]!]),
      ],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [what, buf] of cases) {
      const e = await rejection(read(buf));
      expect(e, what).toBeInstanceOf(BackupError);
      expect((e as BackupError).code, `${what}: ${e.message}`).toBe('CORRUPT');
    }
  });
});
