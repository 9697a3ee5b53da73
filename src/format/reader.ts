/**
 * Reads the uncompressed NDJSON stream of a dump and checks it as it goes: line order, per-table row counts and
 * checksums against the header and end lines, the trailer's whole-stream checksum, and that nothing follows it.
 * Row lines are handed on as raw bytes (zero-copy slices) so a verifier never parses them and a restorer parses
 * only what it inserts. Any inconsistency throws a CORRUPT BackupError naming the table and what differs.
 */
import { createHash, type Hash } from 'node:crypto';
import { BackupError } from '../errors.js';
import { noHash, type StreamHash, streamHash } from './hash.js';
import { checkSchemaEntry } from './schema-entry.js';
import {
  FORMAT_NAME,
  FORMAT_VERSION,
  type HeaderLine,
  type MediaEndLine,
  type MediaStartLine,
  type StructLine,
  type TableEndLine,
  type TableStartLine,
  type TrailerLine,
} from './lines.js';

export type DumpEvent =
  | { kind: 'header'; header: HeaderLine }
  | { kind: 'table'; start: TableStartLine }
  | { kind: 'media'; start: MediaStartLine }
  /**
   * Consecutive row lines of the open section, each with its newline (`count` of them): one span of the decompressed
   * stream, never a Buffer per line. Valid until the next event is requested; `rowLines()` walks it.
   */
  | { kind: 'rows'; bytes: Buffer; count: number }
  | { kind: 'end'; end: TableEndLine }
  | { kind: 'media-end'; end: MediaEndLine }
  | { kind: 'trailer'; trailer: TrailerLine };

const NL = 0x0a;

/** The lines of a `rows` event: each as [start, end) in `bytes`, the newline excluded. */
export function* rowLines(bytes: Buffer): Generator<[number, number]> {
  for (let start = 0; start < bytes.length; ) {
    const nl = bytes.indexOf(NL, start);
    yield [start, nl];
    start = nl + 1;
  }
}

/**
 * The length of the longest line of a `rows` event when one reaches `over` bytes, else 0. A line that long covers
 * a whole window of over/2 bytes, so one search for a newline per window finds whether there is one: events of
 * ordinary rows cost a few searches each, and only one with such a line is measured line by line.
 */
export function longLine(bytes: Buffer, over: number): number {
  const step = Math.max(1, over >>> 1);
  let found = false;
  for (let w = 0; w < bytes.length && !found; w += step) {
    const nl = bytes.indexOf(NL, w);
    found = nl < 0 || nl - w >= step;
  }
  if (!found) return 0;
  let longest = 0;
  for (const [start, end] of rowLines(bytes)) longest = Math.max(longest, end - start);
  return longest >= over ? longest : 0;
}

const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;

function corrupt(message: string): never {
  throw new BackupError('CORRUPT', message);
}

/**
 * Values read from a structural line, as a message may show them. A damaged or hand-edited line may hold anything
 * (a row's data among it), and dump content never reaches the output: only a checksum that is one, a count that is
 * one, or a name the header holds is shown.
 */
const shownSha = (v: unknown) => (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? v : 'a value that is no SHA-256');
const shownCount = (v: unknown) => (Number.isSafeInteger(v) ? String(v) : 'a value that is no count');
const shownName = (v: unknown, header: HeaderLine | null) =>
  typeof v === 'string' && header?.tables.some((t) => t.name === v) ? `"${v}"` : 'a name the header does not hold';
const LINE_TYPES = new Set(['header', 'table', 'end', 'media', 'media-end', 'trailer']);

function parseStruct(line: Buffer, lineNo: number): StructLine {
  let v: unknown;
  try {
    v = JSON.parse(line.toString('utf8'));
  } catch {
    corrupt(`line ${lineNo} is not valid JSON`);
  }
  if (typeof v !== 'object' || v === null || typeof (v as { type?: unknown }).type !== 'string') {
    corrupt(`line ${lineNo} is not a dump line`);
  }
  return v as StructLine;
}

function checkHeader(v: StructLine | null): HeaderLine {
  if (v?.type !== 'header' || (v as HeaderLine).format !== FORMAT_NAME) {
    corrupt(`not a ${FORMAT_NAME} dump (the first line is not its header)`);
  }
  const h = v as HeaderLine;
  if (typeof h.version !== 'number' || !Array.isArray(h.tables) || !Array.isArray(h.schema)) {
    corrupt('the dump header is malformed');
  }
  if (h.version > FORMAT_VERSION) {
    throw new BackupError('UNSUPPORTED', `dump format version ${h.version} is newer than this tool reads (${FORMAT_VERSION}): upgrade turso-backup`);
  }
  for (const o of h.schema) checkSchemaEntry(o);
  return h;
}

/** Hashing can be skipped by a second pass over a dump that was already verified (counts and order still hold). */
const NO_HASH = { update: () => NO_HASH, digest: () => '' } as unknown as Hash;

interface Section {
  name: string;
  media: boolean;
  hash: Hash;
  rows: number;
  expected: number;
}

/**
 * What the dump's structural lines have established so far (header, the open section, the trailer), checked line by
 * line: each structural line becomes its event here, or the dump is refused as CORRUPT.
 */
class DumpState {
  header: HeaderLine | null = null;
  section: Section | null = null;
  trailer: TrailerLine | null = null;
  lineNo = 0;
  private tableIndex = 0;
  private mediaSeen = false;
  private sectionRowsTotal = 0;

  /** `whole`: the whole-stream hash (hash.ts), given every byte before the trailer line, in order. */
  constructor(
    readonly hashing: boolean,
    readonly whole: StreamHash,
  ) {}

  private newHash(): Hash {
    return this.hashing ? createHash('sha256') : NO_HASH;
  }

  /**
   * A structural line (`line`; `withNewline` is it with its newline, hashed into the whole-file checksum here,
   * except the trailer's) → its event. The trailer's event is checked by `checkTrailer` before it is handed on.
   */
  struct(line: Buffer, withNewline: Buffer): DumpEvent {
    if (this.trailer) corrupt(`data after the trailer at line ${this.lineNo}`);
    const s = parseStruct(line, this.lineNo);
    if (s.type === 'trailer') {
      if (!this.header) corrupt('not a dump (no header)');
      this.trailer = s as TrailerLine;
      return { kind: 'trailer', trailer: this.trailer };
    }
    this.whole.update(withNewline);
    if (!this.header) {
      this.header = checkHeader(s);
      return { kind: 'header', header: this.header };
    }
    if (s.type === 'table' || s.type === 'media') return this.start(s as TableStartLine | MediaStartLine);
    if (s.type === 'end' || s.type === 'media-end') return this.end(s as TableEndLine | MediaEndLine);
    const type = (s as { type: string }).type;
    corrupt(LINE_TYPES.has(type) ? `unexpected ${type} line at ${this.lineNo}` : `unknown line type at line ${this.lineNo}`);
  }

  private start(s: TableStartLine | MediaStartLine): DumpEvent {
    const header = this.header!;
    if (this.section) corrupt(`section "${this.section.name}" is not closed before line ${this.lineNo}`);
    const media = s.type === 'media';
    if (media && (this.mediaSeen || !header.media)) corrupt(`unexpected media section at line ${this.lineNo}`);
    const name = media ? (s as MediaStartLine).table : (s as TableStartLine).name;
    const expected = media ? header.media!.rows : this.expectTable(name);
    if (media) this.mediaSeen = true;
    this.section = { name, media, hash: this.newHash(), rows: 0, expected };
    return media ? { kind: 'media', start: s as MediaStartLine } : { kind: 'table', start: s as TableStartLine };
  }

  private expectTable(name: string): number {
    const info = this.header!.tables[this.tableIndex];
    if (!info || info.name !== name) corrupt(`unexpected table section ${shownName(name, this.header)} at line ${this.lineNo}`);
    this.tableIndex++;
    return info.rows;
  }

  private end(s: TableEndLine | MediaEndLine): DumpEvent {
    const section = this.section;
    if (!section || section.media !== (s.type === 'media-end')) corrupt(`unexpected ${s.type} line at ${this.lineNo}`);
    if (s.type === 'end' && s.name !== section.name) corrupt(`table "${section.name}": its end line names ${shownName(s.name, this.header)}`);
    const label = section.media ? 'media inventory' : `table "${section.name}"`;
    // With per-table consistency the header's counts come from an earlier snapshot than the rows: the end
    // line (counted in the table's own snapshot) is the authority then.
    const headerHolds = this.header!.consistency === 'per-table' || section.expected === section.rows;
    if (s.rows !== section.rows || !headerHolds) {
      corrupt(`${label}: expected ${section.expected} rows (header) and ${shownCount(s.rows)} (end line), found ${section.rows}`);
    }
    const found = section.hash.digest('hex');
    if (this.hashing && found !== s.sha256) corrupt(`${label}: checksum mismatch (expected ${shownSha(s.sha256)}, found ${found})`);
    this.sectionRowsTotal += section.media ? 0 : section.rows;
    this.section = null;
    return s.type === 'end' ? { kind: 'end', end: s } : { kind: 'media-end', end: s };
  }

  /** The trailer against everything read before it: the whole-stream checksum (awaited: see hash.ts), the counts. */
  async checkTrailer(): Promise<void> {
    const header = this.header!;
    const t = this.trailer!;
    if (this.section) corrupt(`the trailer comes before section "${this.section.name}" is closed`);
    const found = await this.whole.digest();
    if (this.hashing && t.sha256 !== found) corrupt(`whole-file checksum mismatch (trailer ${shownSha(t.sha256)}, found ${found})`);
    if (this.tableIndex !== header.tables.length || t.tables !== this.tableIndex) {
      corrupt(`expected ${header.tables.length} tables, found ${this.tableIndex} (trailer says ${shownCount(t.tables)})`);
    }
    if (t.rows !== this.sectionRowsTotal) corrupt(`trailer counts ${shownCount(t.rows)} rows, found ${this.sectionRowsTotal}`);
    if (header.media && !this.mediaSeen) corrupt('the media inventory section is missing');
  }

  /** The input ended: it must have ended with the trailer. */
  finish(): void {
    if (!this.header) corrupt('the dump is empty');
    if (this.trailer) return;
    corrupt(
      this.section ? `incomplete dump: it ends inside table "${this.section.name}" (no trailer)` : 'incomplete dump: no trailer (the backup did not finish)',
    );
  }
}

/**
 * The events of `buf`'s whole lines (it ends with a newline): row lines are counted and handed out as runs of
 * bytes (hashed into their section and the whole-file checksum), structural lines go through `st`.
 */
function* chunkEvents(st: DumpState, buf: Buffer): Generator<DumpEvent> {
  let pos = 0;
  let regionStart = 0; // start of the row lines not yet handed out (and hashed)
  let count = 0;
  const rows = (end: number): DumpEvent | null => {
    const region = buf.subarray(regionStart, end);
    st.whole.update(region);
    st.section!.hash.update(region);
    const n = count;
    count = 0;
    return n > 0 ? { kind: 'rows', bytes: region, count: n } : null;
  };
  for (let nl = buf.indexOf(NL); nl >= 0; pos = nl + 1, nl = buf.indexOf(NL, pos)) {
    st.lineNo++;
    if (st.trailer) corrupt(`data after the trailer at line ${st.lineNo}`);
    const first = buf[pos];
    if (first === OPEN_BRACKET) {
      if (!st.section) corrupt(`a row outside any table section at line ${st.lineNo}`);
      st.section.rows++;
      count++;
    } else if (first === OPEN_BRACE) {
      const ev = st.section && pos > regionStart ? rows(pos) : null;
      if (ev) yield ev;
      yield st.struct(buf.subarray(pos, nl), buf.subarray(pos, nl + 1));
      regionStart = nl + 1;
    } else {
      corrupt(st.header ? `line ${st.lineNo} is not a dump line` : 'not a turso-backup dump');
    }
  }
  const ev = st.section && pos > regionStart ? rows(pos) : null;
  if (ev) yield ev;
}

/** `chunkEvents`, with the trailer checked before its event is handed on (the whole-stream hash may be behind). */
async function* checkedEvents(st: DumpState, buf: Buffer): AsyncGenerator<DumpEvent> {
  for (const ev of chunkEvents(st, buf)) {
    if (ev.kind === 'trailer') await st.checkTrailer();
    yield ev;
  }
}

/** How far the whole-stream hash may fall behind the reading (hash.ts): a few of the inflater's 1 MiB pieces. */
export const HASH_BEHIND = 4 * 1024 * 1024;

export interface ReadDumpOptions {
  /** false: everything but the SHA-256s (a second pass whose result is verified another way). */
  checksums?: boolean;
  /**
   * Given each piece of the stream once nothing reads it any more (format/buffer-pool.ts): once the events of its
   * bytes are all handed on and the next is asked for, or once a line it carried into the next piece was copied;
   * and, either way, once the whole-stream hash has read it.
   */
  release?: (piece: Buffer) => void;
  /** The whole-stream hash (hash.ts); streamHash() when absent. */
  wholeHash?: StreamHash;
}

/**
 * Iterates the events of a dump read from `bytes` (the uncompressed stream), verifying everything, or, with
 * `checksums: false`, everything but the SHA-256s.
 */
export async function* readDump(bytes: AsyncIterable<Buffer | string>, opts: ReadDumpOptions = {}): AsyncGenerator<DumpEvent> {
  const hashing = opts.checksums !== false;
  const st = new DumpState(hashing, hashing ? (opts.wholeHash ?? streamHash()) : noHash);
  const give = opts.release;
  const release = give ? (piece: Buffer) => st.whole.after(() => give(piece)) : () => {};
  // A partial last line, kept as pieces: a long line (a big blob) must not be re-copied for every chunk.
  let carry: Buffer[] = [];
  let carryLen = 0;
  for await (const piece of bytes) {
    if (st.whole.pending > HASH_BEHIND) await st.whole.drain(HASH_BEHIND);
    let buf = typeof piece === 'string' ? Buffer.from(piece) : piece;
    const last = buf.lastIndexOf(NL);
    if (last < 0) {
      if (st.trailer && buf.length > 0) corrupt('data after the trailer');
      carry.push(buf);
      carryLen += buf.length;
      if (carryLen > 1024 * 1024 * 1024) corrupt('a line longer than 1 GiB');
      continue;
    }
    // Only the line that straddles the pieces is copied: the rest of the piece is read where it lies (joining the
    // whole piece to the carry copied the dump once more, a fresh 1 MiB per piece).
    const first = carry.length > 0 ? buf.indexOf(NL) + 1 : 0;
    if (first > 0) {
      const line = Buffer.concat([...carry, buf.subarray(0, first)]);
      for (const c of carry) release(c);
      yield* checkedEvents(st, line);
      buf = buf.subarray(first);
    }
    const end = last + 1 - first; // after the last whole line
    carry = [];
    carryLen = 0;
    yield* checkedEvents(st, buf.subarray(0, end));
    if (end < buf.length) {
      if (st.trailer) corrupt('data after the trailer');
      carry = [buf.subarray(end)];
      carryLen = buf.length - end;
    } else release(buf);
  }
  if (carryLen > 0) corrupt('the dump ends inside a line (truncated)');
  st.finish();
}
