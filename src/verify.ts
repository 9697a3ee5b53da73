/**
 * Verifying a dump needs nothing but its bytes: gzip integrity, format version, every section's row count and
 * checksum, the media inventory, the trailer and its whole-stream checksum, and every row decoded (each cell a
 * value the format allows, as many as the section's columns), so that a dump verify accepts is one a restore
 * can load.
 */
import type { Readable } from 'node:stream';
import { BackupError } from './errors.js';
import type { HeaderLine, TrailerLine } from './format/lines.js';
import { readDump } from './format/reader.js';
import { dumpBytes } from './format/decode.js';
import { RowDecoder } from './format/rows.js';
import type { SqlValue } from './format/values.js';

export interface VerifyResult {
  ok: true;
  encrypted: boolean;
  header: Omit<HeaderLine, 'schema'>;
  tables: Record<string, { rows: number; sha256: string }>;
  media: { rows: number; sha256: string } | null;
  trailer: TrailerLine;
}

/** Reads the whole dump; resolves when everything holds, throws a CORRUPT/UNSUPPORTED BackupError otherwise. */
export async function verify(stream: Readable, opts: { key?: Buffer } = {}): Promise<VerifyResult> {
  const { kind, bytes } = await dumpBytes(stream, opts.key);
  let header: HeaderLine | null = null;
  const tables: VerifyResult['tables'] = Object.create(null); // table names as keys: `__proto__` too
  let media: VerifyResult['media'] = null;
  let trailer: TrailerLine | null = null;
  let section = { what: '', width: 0 };
  for await (const ev of readDump(bytes)) {
    if (ev.kind === 'header') header = ev.header;
    else if (ev.kind === 'table') section = { what: `table "${ev.start.name}"`, width: ev.start.columns.length };
    else if (ev.kind === 'media') section = { what: `the media inventory of "${ev.start.table}"`, width: ev.start.columns.length };
    else if (ev.kind === 'rows') checkRows(ev.bytes, section);
    else if (ev.kind === 'end') tables[ev.end.name] = { rows: ev.end.rows, sha256: ev.end.sha256 };
    else if (ev.kind === 'media-end') media = { rows: ev.end.rows, sha256: ev.end.sha256 };
    else if (ev.kind === 'trailer') trailer = ev.trailer;
  }
  const { schema: _schema, ...rest } = header!;
  return { ok: true, encrypted: kind === 'encrypted', header: rest, tables, media, trailer: trailer! };
}

/** Every row line of `bytes` decoded: a cell the format does not allow, or a row of the wrong width, is CORRUPT. */
function checkRows(bytes: Buffer, section: { what: string; width: number }): void {
  const rows = new RowDecoder(bytes);
  const row: SqlValue[] = [];
  for (;;) {
    let n: number;
    try {
      n = rows.nextInto(row, 0);
    } catch (e) {
      throw new BackupError('CORRUPT', `${section.what}: ${(e as Error).message.split('\n')[0]}`);
    }
    if (n < 0) return;
    if (n !== section.width) throw new BackupError('CORRUPT', `${section.what}: a row of ${n} values, for ${section.width} columns`);
  }
}
