/**
 * Verifying a dump needs nothing but its bytes: gzip integrity, format version, every section's row count and
 * checksum, the media inventory, the trailer and its whole-stream checksum.
 */
import type { Readable } from 'node:stream';
import type { HeaderLine, TrailerLine } from './format/lines.js';
import { readDump } from './format/reader.js';
import { dumpBytes } from './format/decode.js';

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
  const tables: VerifyResult['tables'] = {};
  let media: VerifyResult['media'] = null;
  let trailer: TrailerLine | null = null;
  for await (const ev of readDump(bytes)) {
    if (ev.kind === 'header') header = ev.header;
    else if (ev.kind === 'end') tables[ev.end.name] = { rows: ev.end.rows, sha256: ev.end.sha256 };
    else if (ev.kind === 'media-end') media = { rows: ev.end.rows, sha256: ev.end.sha256 };
    else if (ev.kind === 'trailer') trailer = ev.trailer;
  }
  const { schema: _schema, ...rest } = header!;
  return { ok: true, encrypted: kind === 'encrypted', header: rest, tables, media, trailer: trailer! };
}
