/**
 * What a backup will write, decided inside its read snapshot before the first row: the header (schema, tables,
 * counts, media inventory spec) and the media inventory's columns.
 */
import { APP_DEFINED, caseHint, countRows, introspect } from '../db/schema.js';
import { BackupError } from '../errors.js';
import type { Db } from '../db/types.js';
import { FORMAT_NAME, FORMAT_VERSION, type HeaderLine, type MediaSpec, type SchemaObject, type Selection, type TableInfo } from '../format/lines.js';
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
  facts.notes.push(...(await unrestorable(db, facts.schema)));
  const tables: TableInfo[] = [];
  for (const t of facts.tables) tables.push({ ...t, rows: t.dataColumns.length === 0 ? 0 : await countRows(db, t.name) });
  const mediaTable = mediaInventory(tables.find((t) => t.name === mediaSpec.table));
  if (!mediaTable && opts.media?.table !== undefined) await checkMediaTable(db, opts.media.table);
  if (mediaTable) facts.notes.push(...mediaColumnsNote(mediaTable, mediaSpec));
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
 * What a restore of this dump will fail to create, found now, when the operator can still act: a generated column,
 * an expression or a partial index using a function only the database's application defines (SQLite resolves those
 * as it creates them). Rehearsed on an empty in-memory database where the backend can (a local file); the backup
 * goes on, and the note goes into the dump's header and the output.
 */
async function unrestorable(db: Db, schema: SchemaObject[]): Promise<string[]> {
  if (!db.rehearseSchema) return [];
  const refused = await db.rehearseSchema(schema.filter((o) => o.type === 'table' || o.type === 'index'));
  // An object after a refused table fails for want of it: only the first cause is worth naming. Other refusals
  // (double-quoted string literals, say) are the restore's to work around (restore/ddl.ts), not a dead end.
  const missing = new Set(refused.map((r) => r.object.name));
  return refused
    .filter((r) => APP_DEFINED.test(r.error) && (r.object.type === 'table' || !missing.has(r.object.tbl_name)))
    .map(
      (r) =>
        `a restore of this dump will fail: SQLite cannot create ${r.object.type} "${r.object.name}" (${r.error}); it needs what the database's application adds to SQLite`,
    );
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

/**
 * A media table (another application's MediaAsset, say) with neither of the columns the media commands read: its rows
 * are inventoried as they are, since which columns hold what is for the operator to say, and the note says how.
 */
function mediaColumnsNote(t: TableInfo, spec: MediaSpec): string[] {
  const has = (c: string) => t.columns.some((col) => col.name === c);
  if (has(spec.urlColumn) || has(spec.pathnameColumn)) return [];
  return [
    `the media table "${t.name}" has neither a "${spec.urlColumn}" nor a "${spec.pathnameColumn}" column: its rows are inventoried as they are, ` +
      'and media-check, relink and media-mirror need --url-column (and --pathname-column) to read them',
  ];
}

/** Per-table row counts of a header. */
export const countsOf = (h: HeaderLine): Record<string, number> => Object.fromEntries(h.tables.map((t) => [t.name, t.rows]));
