/**
 * What a backup will write, decided inside its read snapshot before the first row: the header (schema, tables,
 * counts, media inventory spec) and the media inventory's columns.
 */
import { caseHint, countRows, introspect } from '../db/schema.js';
import { BackupError } from '../errors.js';
import type { Db } from '../db/types.js';
import { FORMAT_NAME, FORMAT_VERSION, type HeaderLine, type MediaSpec, type Selection, type TableInfo } from '../format/lines.js';
import { TOOL } from '../version.js';

export const DEFAULT_MEDIA: MediaSpec = { table: 'MediaAsset', urlColumn: 'url', pathnameColumn: 'blobPathname' };

export interface BackupPlan {
  header: HeaderLine;
  /** The media table as the inventory section reads it (without its binary columns), or null. */
  media: TableInfo | null;
}

/** Introspects the open snapshot of `db` and counts every selected table in it. */
export async function planBackup(
  db: Db,
  opts: { selection?: Partial<Selection>; media?: Partial<MediaSpec>; consistency?: HeaderLine['consistency'] },
): Promise<BackupPlan> {
  const selection: Selection = { tables: opts.selection?.tables ?? null, excludeTables: opts.selection?.excludeTables ?? [] };
  const mediaSpec: MediaSpec = { ...DEFAULT_MEDIA, ...opts.media };
  const facts = await introspect(db, selection);
  const tables: TableInfo[] = [];
  for (const t of facts.tables) tables.push({ ...t, rows: t.dataColumns.length === 0 ? 0 : await countRows(db, t.name) });
  const mediaTable = mediaInventory(tables.find((t) => t.name === mediaSpec.table));
  if (!mediaTable && opts.media?.table !== undefined) await checkMediaTable(db, opts.media.table);
  const header: HeaderLine = {
    type: 'header',
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    tool: TOOL,
    createdAt: new Date().toISOString(),
    source: db.displayUrl,
    consistency: opts.consistency ?? 'snapshot',
    selection,
    schema: facts.schema,
    tables,
    media: mediaTable ? { ...mediaSpec, present: true, rows: mediaTable.rows } : null,
    sqlite: facts.sqlite,
    ...(facts.notes.length ? { notes: facts.notes } : {}),
  };
  return { header, media: mediaTable };
}

/**
 * A media table named on purpose that the database does not have is the invocation's mistake, like a misspelt
 * --tables name: a dump without its inventory must not pass for one with it. (The default name may be absent.)
 */
async function checkMediaTable(db: Db, name: string): Promise<void> {
  const found = await db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ?", [name]);
  if (found.length === 0) {
    const names = (await db.query("SELECT name FROM sqlite_schema WHERE type = 'table'")).map((r) => String(r[0]));
    throw new BackupError('USAGE', `--media-table names "${name}", which is not a table of the database${caseHint(name, names)}`);
  }
}

/**
 * The media inventory is the media table's rows without its binary columns: Blob URLs and metadata are what
 * media-check and relink need, and the table's own section already carries every byte.
 */
function mediaInventory(t: TableInfo | undefined): TableInfo | null {
  if (!t) return null;
  const binary = new Set(t.columns.filter((c) => /blob/i.test(c.type)).map((c) => c.name));
  const dataColumns = t.dataColumns.filter((c) => t.keyColumns.includes(c) || !binary.has(c));
  return { ...t, dataColumns };
}

/** Per-table row counts of a header. */
export const countsOf = (h: HeaderLine): Record<string, number> => Object.fromEntries(h.tables.map((t) => [t.name, t.rows]));
