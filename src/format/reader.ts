/**
 * Reads the uncompressed NDJSON stream of a dump and checks it as it goes: line order, per-table row counts and
 * checksums against the header and end lines, the trailer's whole-stream checksum, and that nothing follows it.
 * Row lines are handed on as raw bytes (zero-copy slices) so a verifier never parses them and a restorer parses
 * only what it inserts. Any inconsistency throws a CORRUPT BackupError naming the table and what differs.
 */
import { createHash, type Hash } from 'node:crypto';
import { BackupError } from '../errors.js';
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
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;

function corrupt(message: string): never {
  throw new BackupError('CORRUPT', message);
}

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
  if (!v || v.type !== 'header' || (v as HeaderLine).format !== FORMAT_NAME) {
    corrupt(`not a ${FORMAT_NAME} dump (the first line is not its header)`);
  }
  const h = v as HeaderLine;
  if (typeof h.version !== 'number' || !Array.isArray(h.tables) || !Array.isArray(h.schema)) {
    corrupt('the dump header is malformed');
  }
  if (h.version > FORMAT_VERSION) {
    throw new BackupError(
      'UNSUPPORTED',
      `dump format version ${h.version} is newer than this tool reads (${FORMAT_VERSION}): upgrade turso-backup`,
    );
  }
  return h;
}

/** Hashing can be skipped by a second pass over a dump that was already verified (counts and order still hold). */
const NO_HASH = { update: () => NO_HASH, digest: () => '' } as unknown as Hash;

/**
 * Iterates the events of a dump read from `bytes` (the uncompressed stream), verifying everything, or, with
 * `checksums: false`, everything but the SHA-256s (for a second pass whose result is verified another way).
 */
export async function* readDump(bytes: AsyncIterable<Buffer | string>, opts: { checksums?: boolean } = {}): AsyncGenerator<DumpEvent> {
  const hashing = opts.checksums !== false;
  const newHash = () => (hashing ? createHash('sha256') : NO_HASH);
  const whole = newHash();
  let header: HeaderLine | null = null;
  let section: { name: string; media: boolean; hash: Hash; rows: number; expected: number } | null = null;
  let tableIndex = 0;
  let mediaSeen = false;
  let sectionRowsTotal = 0;
  let trailer: TrailerLine | null = null;
  let lineNo = 0;
  // A partial last line, kept as pieces: a long line (a big blob) must not be re-copied for every chunk.
  let carry: Buffer[] = [];
  let carryLen = 0;

  const expectTable = (name: string) => {
    const info = header!.tables[tableIndex];
    if (!info || info.name !== name) corrupt(`unexpected table section "${name}" at line ${lineNo}`);
    tableIndex++;
    return info.rows;
  };

  function* handleStruct(s: StructLine): Generator<DumpEvent> {
    if (trailer) corrupt(`data after the trailer at line ${lineNo}`);
    if (!header) {
      header = checkHeader(s);
      yield { kind: 'header', header };
      return;
    }
    switch (s.type) {
      case 'table':
      case 'media': {
        if (section) corrupt(`section "${section.name}" is not closed before line ${lineNo}`);
        const media = s.type === 'media';
        if (media && (mediaSeen || !header.media)) corrupt(`unexpected media section at line ${lineNo}`);
        const name = media ? (s as MediaStartLine).table : (s as TableStartLine).name;
        const expected = media ? header.media!.rows : expectTable(name);
        if (media) mediaSeen = true;
        section = { name, media, hash: newHash(), rows: 0, expected };
        yield media ? { kind: 'media', start: s as MediaStartLine } : { kind: 'table', start: s as TableStartLine };
        return;
      }
      case 'end':
      case 'media-end': {
        const end = s as TableEndLine | MediaEndLine;
        if (!section || section.media !== (s.type === 'media-end')) corrupt(`unexpected ${s.type} line at ${lineNo}`);
        if (s.type === 'end' && (s as TableEndLine).name !== section.name) {
          corrupt(`table "${section.name}": its end line names "${(s as TableEndLine).name}"`);
        }
        const label = section.media ? 'media inventory' : `table "${section.name}"`;
        // With per-table consistency the header's counts come from an earlier snapshot than the rows: the end
        // line (counted in the table's own snapshot) is the authority then.
        const headerHolds = header.consistency === 'per-table' || section.expected === section.rows;
        if (end.rows !== section.rows || !headerHolds) {
          corrupt(`${label}: expected ${section.expected} rows (header) and ${end.rows} (end line), found ${section.rows}`);
        }
        const found = section.hash.digest('hex');
        if (hashing && found !== end.sha256) corrupt(`${label}: checksum mismatch (expected ${end.sha256}, found ${found})`);
        sectionRowsTotal += section.media ? 0 : section.rows;
        section = null;
        yield s.type === 'end' ? { kind: 'end', end: s as TableEndLine } : { kind: 'media-end', end: s as MediaEndLine };
        return;
      }
      case 'trailer':
        throw new Error('trailer is handled by the caller');
      default:
        corrupt(`unknown line type "${(s as { type: string }).type}" at line ${lineNo}`);
    }
  }

  const finishTrailer = (t: TrailerLine): DumpEvent => {
    if (section) corrupt(`the trailer comes before section "${section.name}" is closed`);
    const found = whole.digest('hex');
    if (hashing && t.sha256 !== found) corrupt(`whole-file checksum mismatch (trailer ${t.sha256}, found ${found})`);
    if (tableIndex !== header!.tables.length || t.tables !== tableIndex) {
      corrupt(`expected ${header!.tables.length} tables, found ${tableIndex} (trailer says ${t.tables})`);
    }
    if (t.rows !== sectionRowsTotal) corrupt(`trailer counts ${t.rows} rows, found ${sectionRowsTotal}`);
    if (header!.media && !mediaSeen) corrupt('the media inventory section is missing');
    trailer = t;
    return { kind: 'trailer', trailer: t };
  };

  for await (const piece of bytes) {
    let buf = typeof piece === 'string' ? Buffer.from(piece) : piece;
    if (buf.indexOf(NL) < 0) {
      if (trailer && buf.length > 0) corrupt('data after the trailer');
      carry.push(buf);
      carryLen += buf.length;
      if (carryLen > 1024 * 1024 * 1024) corrupt('a line longer than 1 GiB');
      continue;
    }
    if (carry.length > 0) {
      buf = Buffer.concat([...carry, buf]);
      carry = [];
      carryLen = 0;
    }
    let pos = 0;
    let regionStart = 0; // start of the row lines not yet handed out (and hashed)
    let count = 0;
    const flushRows = function* (end: number): Generator<DumpEvent> {
      if (end > regionStart) {
        const region = buf.subarray(regionStart, end);
        whole.update(region);
        section!.hash.update(region);
        if (count > 0) yield { kind: 'rows', bytes: region, count };
      }
      count = 0;
    };
    for (;;) {
      const nl = buf.indexOf(NL, pos);
      if (nl < 0) break;
      lineNo++;
      if (trailer) corrupt(`data after the trailer at line ${lineNo}`);
      const first = buf[pos];
      if (first === OPEN_BRACKET) {
        if (!section) corrupt(`a row outside any table section at line ${lineNo}`);
        section!.rows++;
        count++;
      } else if (first === OPEN_BRACE) {
        if (section) yield* flushRows(pos);
        const s = parseStruct(buf.subarray(pos, nl), lineNo);
        if (s.type === 'trailer') {
          if (!header) corrupt('not a dump (no header)');
          yield finishTrailer(s as TrailerLine);
        } else {
          if (!trailer) whole.update(buf.subarray(pos, nl + 1));
          yield* handleStruct(s);
        }
        regionStart = nl + 1;
      } else {
        corrupt(header ? `line ${lineNo} is not a dump line` : 'not a turso-backup dump');
      }
      pos = nl + 1;
    }
    if (section) yield* flushRows(pos);
    if (pos < buf.length) {
      if (trailer) corrupt('data after the trailer');
      carry = [buf.subarray(pos)];
      carryLen = buf.length - pos;
    }
  }
  if (carryLen > 0) corrupt('the dump ends inside a line (truncated)');
  if (!header) corrupt('the dump is empty');
  if (!trailer) {
    corrupt(
      section
        ? `incomplete dump: it ends inside table "${(section as { name: string }).name}" (no trailer)`
        : 'incomplete dump: no trailer (the backup did not finish)',
    );
  }
}
