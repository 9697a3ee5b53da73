/**
 * The media table in a live database: which of the configured columns it has, how its rows are keyed, and a keyset
 * pager over it (bounded pages, never OFFSET), written against a bare `query` function so the read-only source
 * (check, mirror) and the writable connection (relink) share it.
 */
import { BackupError } from '../errors.js';
import { q } from '../source/sql.js';
import type { MediaColumns } from './model.js';

export type QueryFn = (sql: string, args?: readonly unknown[]) => Promise<unknown[][]>;

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

export async function describeMediaTable(query: QueryFn, spec: MediaColumns): Promise<MediaTable> {
  const listed = await query("SELECT type, wr FROM pragma_table_list WHERE schema = 'main' AND name = ?", [spec.table]);
  if (listed.length === 0) {
    throw new BackupError('NOT_FOUND', `the database has no table "${spec.table}" (the media table; set it with --media-table)`);
  }
  if (String(listed[0]![0]) !== 'table') {
    throw new BackupError('UNSUPPORTED', `"${spec.table}" is a ${String(listed[0]![0])}, not a table`);
  }
  const withoutRowid = Number(listed[0]![1]) === 1;
  const info = await query('SELECT name, pk, hidden FROM pragma_table_xinfo(?)', [spec.table]);
  const columns = info.filter((c) => Number(c[2]) === 0).map((c) => String(c[0]));
  if (!columns.includes(spec.urlColumn)) {
    throw new BackupError('USAGE', `table "${spec.table}" has no column "${spec.urlColumn}" (set the url column with --url-column)`);
  }
  let keyColumns: string[];
  let rowid = false;
  if (withoutRowid) {
    keyColumns = info
      .filter((c) => Number(c[1]) > 0)
      .sort((a, b) => Number(a[1]) - Number(b[1]))
      .map((c) => String(c[0]));
  } else {
    const taken = new Set(info.map((c) => String(c[0]).toLowerCase()));
    const alias = ['rowid', '_rowid_', 'oid'].find((n) => !taken.has(n));
    if (!alias) throw new BackupError('UNSUPPORTED', `table "${spec.table}" has columns named rowid, _rowid_ and oid: its rows cannot be addressed`);
    keyColumns = [alias];
    rowid = true;
  }
  return {
    name: spec.table,
    columns,
    keyColumns,
    rowid,
    has: {
      pathname: columns.includes(spec.pathnameColumn),
      id: columns.includes(spec.idColumn),
      size: columns.includes(spec.sizeColumn),
      contentType: columns.includes(spec.contentTypeColumn),
    },
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

export interface PageFilter {
  /** An SQL condition ANDed to the key condition, with its arguments. */
  sql: string;
  args: unknown[];
}

/**
 * Pages of `[...keys, ...columns]` in key order. Each page is requested after the previous one was consumed, so a
 * caller that changes rows between pages (relink, inside its transaction) sees a consistent walk.
 */
export async function* keysetPages(
  query: QueryFn,
  t: MediaTable,
  columns: string[],
  opts: { pageRows?: number; filter?: PageFilter } = {},
): AsyncGenerator<unknown[][]> {
  const pageRows = opts.pageRows ?? 1000;
  const keys = t.keyColumns.map(q);
  const order = keys.join(', ');
  const select = `SELECT ${[...keys, ...columns.map(q)].join(', ')} FROM ${q(t.name)}`;
  const keyCond = keys.length === 1 ? `${keys[0]} > ?` : `(${order}) > (${keys.map(() => '?').join(', ')})`;
  const filter = opts.filter;
  let last: unknown[] | null = null;
  for (;;) {
    const conds: string[] = [];
    const args: unknown[] = [];
    if (last) {
      conds.push(keyCond);
      args.push(...last);
    }
    if (filter) {
      conds.push(`(${filter.sql})`);
      args.push(...filter.args);
    }
    const where = conds.length ? ` WHERE ${conds.join(' AND ')}` : '';
    const page = await query(`${select}${where} ORDER BY ${order} LIMIT ?`, [...args, BigInt(pageRows)]);
    if (page.length === 0) return;
    last = page[page.length - 1]!.slice(0, keys.length);
    yield page;
    if (page.length < pageRows) return;
  }
}
