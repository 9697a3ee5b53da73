/**
 * Turns the parts of a dump into the bytes of its uncompressed NDJSON stream: the structural lines, the row lines
 * as given, each section's end with its SHA-256 (kept by the producer of its rows), and the trailer with the
 * SHA-256 of the whole stream before it, kept here.
 */
import { createHash } from 'node:crypto';
import type { HeaderLine, MediaEndLine, StructLine, TableEndLine, TrailerLine } from './lines.js';

export interface DumpTotals {
  tables: Record<string, { rows: number; sha256: string }>;
  media: { rows: number; sha256: string } | null;
  totalRows: number;
  contentSha256: string;
}

/**
 * `emit` stores the text of each structural line and returns a view of its bytes (see blocks.ts); `emitBytes` stores
 * encoded row lines as they are. The encoder hashes what it stores into the whole-stream checksum, once.
 */
export function createDumpEncoder(
  emit: (text: string) => Buffer = (t) => Buffer.from(t),
  emitBytes: (bytes: Buffer, done?: () => void) => void = (_, done) => done?.(),
) {
  const whole = createHash('sha256');
  let section: { rows: number } | null = null;
  // No prototype: a table may be named `__proto__` (or `constructor`), and a plain object's key would not hold it.
  const tables: DumpTotals['tables'] = Object.create(null);
  let media: DumpTotals['media'] = null;
  let totalRows = 0;

  const struct = (line: StructLine): Buffer => {
    const buf = emit(`${JSON.stringify(line)}\n`);
    whole.update(buf);
    return buf;
  };

  const openSection = () => {
    if (section) throw new Error('dump encoder: a section is already open');
    section = { rows: 0 };
  };
  const closeSection = (sha256: string) => {
    if (!section) throw new Error('dump encoder: no section is open');
    const done = { rows: section.rows, sha256 };
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
    /**
     * A page of encoded row lines (db/pages.ts): hashing and compressing work on large pieces, not per row. The
     * section's own checksum is kept by whoever produced the pages (on its thread) and given to tableEnd/mediaEnd.
     * `done`: called once `bytes` are no longer read (see blocks.ts putBytes).
     */
    rows(bytes: Buffer, rows: number, done?: () => void): void {
      if (!section) throw new Error('dump encoder: rows outside a section');
      whole.update(bytes);
      section.rows += rows;
      emitBytes(bytes, done);
    },
    /** Closes a table section with the SHA-256 of its row lines (see rows()). */
    tableEnd(name: string, sha256: string): Buffer {
      const done = closeSection(sha256);
      tables[name] = done;
      totalRows += done.rows;
      const end: TableEndLine = { type: 'end', name, rows: done.rows, sha256 };
      return struct(end);
    },
    mediaEnd(sha256: string): Buffer {
      const done = closeSection(sha256);
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
