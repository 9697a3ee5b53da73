/**
 * Turns the parts of a dump into the bytes of its uncompressed NDJSON stream, keeping the checksums as it goes:
 * one SHA-256 per table over its row lines, and one over the whole stream for the trailer.
 */
import { createHash, type Hash } from 'node:crypto';
import type { HeaderLine, MediaEndLine, StructLine, TableEndLine, TrailerLine } from './lines.js';

export interface DumpTotals {
  tables: Record<string, { rows: number; sha256: string }>;
  media: { rows: number; sha256: string } | null;
  totalRows: number;
  contentSha256: string;
}

/**
 * `emit` stores the text of each structural line and returns a view of its bytes (see blocks.ts); `emitBytes` stores
 * encoded row lines as they are. The encoder hashes what it stores, so every byte is hashed exactly once.
 */
export function createDumpEncoder(emit: (text: string) => Buffer = (t) => Buffer.from(t), emitBytes: (bytes: Buffer) => void = () => {}) {
  const whole = createHash('sha256');
  let section: { hash: Hash; rows: number } | null = null;
  const tables: DumpTotals['tables'] = {};
  let media: DumpTotals['media'] = null;
  let totalRows = 0;

  const struct = (line: StructLine): Buffer => {
    const buf = emit(`${JSON.stringify(line)}\n`);
    whole.update(buf);
    return buf;
  };

  const openSection = () => {
    if (section) throw new Error('dump encoder: a section is already open');
    section = { hash: createHash('sha256'), rows: 0 };
  };
  const closeSection = () => {
    if (!section) throw new Error('dump encoder: no section is open');
    const done = { rows: section.rows, sha256: section.hash.digest('hex') };
    section = null;
    return done;
  };

  return {
    header: (h: HeaderLine) => struct(h),
    tableStart(name: string, columns: string[]) {
      openSection();
      return struct({ type: 'table', name, columns });
    },
    mediaStart(table: string, columns: string[]) {
      openSection();
      return struct({ type: 'media', table, columns });
    },
    /** A page of encoded row lines (db/pages.ts): hashing and compressing work on large pieces, not per row. */
    rows(bytes: Buffer, rows: number): void {
      if (!section) throw new Error('dump encoder: rows outside a section');
      section.hash.update(bytes);
      whole.update(bytes);
      section.rows += rows;
      emitBytes(bytes);
    },
    tableEnd(name: string): Buffer {
      const { rows, sha256 } = closeSection();
      tables[name] = { rows, sha256 };
      totalRows += rows;
      const end: TableEndLine = { type: 'end', name, rows, sha256 };
      return struct(end);
    },
    mediaEnd(): Buffer {
      const done = closeSection();
      media = done;
      const end: MediaEndLine = { type: 'media-end', ...done };
      return struct(end);
    },
    /** The trailer; its checksum covers every byte before it. Ends the encoder. */
    trailer(): { line: Buffer; totals: DumpTotals } {
      const contentSha256 = whole.digest('hex');
      const t: TrailerLine = {
        type: 'trailer',
        tables: Object.keys(tables).length,
        rows: totalRows,
        mediaRows: media?.rows ?? 0,
        sha256: contentSha256,
      };
      return { line: emit(`${JSON.stringify(t)}\n`), totals: { tables, media, totalRows, contentSha256 } };
    },
  };
}

export type DumpEncoder = ReturnType<typeof createDumpEncoder>;
