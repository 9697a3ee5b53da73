/**
 * The media inventory as the media commands see it: one row per Blob object the database points at, whatever its
 * source (the live database or a dump's media section). Only the columns the commands need are kept.
 */
import { DEFAULT_MEDIA } from '../backup/plan.js';
import type { MediaSpec } from '../format/lines.js';
import { TextBytes } from '../format/values.js';

/** Which table and columns hold the inventory. `id`, `size` and `contentType` are used when the table has them. */
export interface MediaColumns extends MediaSpec {
  idColumn: string;
  sizeColumn: string;
  contentTypeColumn: string;
}

export const DEFAULT_MEDIA_COLUMNS: MediaColumns = {
  ...DEFAULT_MEDIA,
  idColumn: 'id',
  sizeColumn: 'size',
  contentTypeColumn: 'contentType',
};

export interface MediaRow {
  /** The `id` column when the table has one, else the row's key (rowid); for messages and JSON output. */
  id: string | number | null;
  url: string | null;
  pathname: string | null;
  /** Bytes the inventory records, when it has a size column holding a number. */
  size: number | null;
  contentType: string | null;
}

/**
 * A source of inventory rows: a function returning an async iterable, so callers stream it (never holding the
 * whole inventory) and new sources (a dump in Blob, ...) plug in without touching the commands. `onTotal` is called
 * once the source knows how many rows it will yield (for progress), if it ever does.
 */
export type InventorySource = (hooks?: { onTotal?: (rows: number) => void }) => AsyncIterable<MediaRow>;

export interface Inventory {
  /** What the rows come from, for messages (never holds credentials). */
  label: string;
  rows: InventorySource;
}

/** A TEXT cell as a string (null for NULL, numbers, blobs). */
export function textCell(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v instanceof TextBytes) return v.bytes.toString('utf8');
  return null;
}

/** An id for output: integers as JSON numbers when exact, else strings. */
export function idCell(v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return v;
  if (v instanceof TextBytes) return v.bytes.toString('utf8');
  if (Buffer.isBuffer(v)) return v.toString('hex');
  return String(v);
}

/** A size cell as a non-negative integer, or null when absent or not a number. */
export function sizeCell(v: unknown): number | null {
  let n: number;
  if (typeof v === 'bigint') n = Number(v);
  else if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) n = Number(v);
  else return null;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/**
 * Maps a row (cells in `columns` order) to a MediaRow; `keyColumn` names the fallback id (the rowid) when there is
 * no id column.
 */
export function rowMapper(columns: string[], spec: MediaColumns, keyColumn?: string): (cells: unknown[]) => MediaRow {
  const at = (name: string | undefined) => (name === undefined ? -1 : columns.indexOf(name));
  const url = at(spec.urlColumn);
  const pathname = at(spec.pathnameColumn);
  const idAt = at(spec.idColumn) >= 0 ? at(spec.idColumn) : at(keyColumn);
  const size = at(spec.sizeColumn);
  const type = at(spec.contentTypeColumn);
  return (cells) => ({
    id: idAt >= 0 ? idCell(cells[idAt]) : null,
    url: url >= 0 ? textCell(cells[url]) || null : null,
    pathname: pathname >= 0 ? textCell(cells[pathname]) || null : null,
    size: size >= 0 ? sizeCell(cells[size]) : null,
    contentType: type >= 0 ? textCell(cells[type]) || null : null,
  });
}

/** The reference `head()` is given: the pathname when the row has one (store-independent), else the url. */
export const blobRef = (row: MediaRow): string | null => row.pathname ?? row.url;

/** One-line label for an object in messages. */
export const describeRow = (row: MediaRow): string =>
  `id=${row.id ?? '?'} pathname=${row.pathname ?? '(none)'}${row.pathname ? '' : ` url=${row.url ?? '(none)'}`}`;
