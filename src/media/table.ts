/**
 * The media table in a live database: which of the configured columns it has and how its rows are keyed, for the
 * one keyset pager of db/pages.ts (the read-only inventory and relink's write transaction share it).
 */
import type { Pageable } from '../db/pages.js';
import { hiddenRowidName, tableColumns, tableList } from '../db/schema.js';
import type { Db } from '../db/types.js';
import { BackupError } from '../errors.js';
import type { MediaColumns } from './model.js';

export interface MediaTable {
  name: string;
  /** Every column of the table (declared, not generated/hidden). */
  columns: string[];
  /** Key columns for keyset pagination and for addressing one row: the rowid alias, or a WITHOUT ROWID key. */
  keyColumns: string[];
  /** True when keyColumns is the hidden rowid under some alias. */
  rowid: boolean;
  /** The configured columns present in the table (url always; the others when present). */
  has: { pathname: boolean; id: boolean; size: boolean; contentType: boolean };
}

export async function describeMediaTable(db: Pick<Db, 'query'>, spec: MediaColumns): Promise<MediaTable> {
  const listed = (await tableList(db)).find((t) => t.name === spec.table);
  if (!listed) throw new BackupError('NOT_FOUND', `the database has no table "${spec.table}" (the media table; set it with --media-table)`);
  if (listed.type !== 'table') throw new BackupError('UNSUPPORTED', `"${spec.table}" is a ${listed.type}, not a table`);
  const info = await tableColumns(db, spec.table);
  const columns = info.filter((c) => c.hidden === 0).map((c) => c.name);
  if (!columns.includes(spec.urlColumn)) {
    throw new BackupError('USAGE', `table "${spec.table}" has no column "${spec.urlColumn}" (set the url column with --url-column)`);
  }
  let keyColumns: string[];
  if (listed.withoutRowid) {
    keyColumns = info
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
  } else {
    const alias = hiddenRowidName(info.map((c) => c.name));
    if (!alias) throw new BackupError('UNSUPPORTED', `table "${spec.table}" has columns named rowid, _rowid_ and oid: its rows cannot be addressed`);
    keyColumns = [alias];
  }
  const has = (c: string) => columns.includes(c);
  return {
    name: spec.table,
    columns,
    keyColumns,
    rowid: !listed.withoutRowid,
    has: { pathname: has(spec.pathnameColumn), id: has(spec.idColumn), size: has(spec.sizeColumn), contentType: has(spec.contentTypeColumn) },
  };
}

/** The configured columns present in the table, url first (the SELECT list of the pager, after the keys). */
export function mediaSelectColumns(t: MediaTable, spec: MediaColumns): string[] {
  const cols = [spec.urlColumn];
  if (t.has.pathname) cols.push(spec.pathnameColumn);
  if (t.has.id) cols.push(spec.idColumn);
  if (t.has.size) cols.push(spec.sizeColumn);
  if (t.has.contentType) cols.push(spec.contentTypeColumn);
  return cols.filter((c, i) => cols.indexOf(c) === i);
}

/** What the pager reads: `[...keys, ...columns]` of the media table, in key order. */
export const mediaPageable = (t: MediaTable, columns: string[]): Pageable => ({
  name: t.name,
  dataColumns: [...t.keyColumns, ...columns],
  keyColumns: t.keyColumns,
});
