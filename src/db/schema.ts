/**
 * Schema introspection: what the dump's header records about each table, read through the same snapshot as the
 * rows, with table-valued pragmas so the queries work locally and over HTTP alike.
 */
import { isUtf8 } from 'node:buffer';
import { BackupError } from '../errors.js';
import { tokenize, tokenName } from '../sql-text.js';
import type { ColumnInfo, SchemaObject, Selection, TableInfo } from '../format/lines.js';
import type { Db } from './types.js';
import { q } from './url.js';

/**
 * SQLite's own tables (sqlite_sequence, sqlite_stat1-4): never replayed as schema. sqlite_sequence is dumped as
 * data (AUTOINCREMENT state). Only tables: an index, trigger or view with SQL text is the application's whatever its
 * name (an old Prisma wrote `PRAGMA writable_schema=1; CREATE UNIQUE INDEX "sqlite_autoindex_T_2"`), and a dump
 * without it would restore a table that has lost a UNIQUE constraint.
 */
const isInternal = (type: string, name: string) => type === 'table' && foldName(name).startsWith('sqlite_');

/** FTS modules whose content is dumped through SELECT and restored by INSERT. */
const CONTENT_MODULES = new Set(['fts5', 'fts4', 'fts3', 'rtree', 'rtree_i32', 'geopoly']);

export interface SchemaFacts {
  schema: SchemaObject[];
  tables: Omit<TableInfo, 'rows'>[];
  notes: string[];
  sqlite: { pageSize?: number; userVersion?: number; applicationId?: number; autoVacuum?: number; encoding?: string; journalMode?: 'wal' };
}

const str = (v: unknown) => (v === null || v === undefined ? '' : String(v));
const num = (v: unknown) => Number(v ?? 0);

function virtualModule(sql: string): string {
  const m = /\busing\s+([A-Za-z0-9_]+)/i.exec(sql);
  return m ? m[1]!.toLowerCase() : 'unknown';
}

/**
 * FTS4 and FTS5 with content='' (contentless) or content=<table> (external content) hold no data of their own.
 * FTS3 has no such option: there `content="x"` declares a column named content, and the table keeps its rows.
 */
export function ftsContentOption(sql: string): 'own' | 'external' | 'contentless' {
  const table = ftsContentTable(sql);
  return table === null ? 'own' : table === '' ? 'contentless' : 'external';
}

/** The `content=` option's value of an FTS4/FTS5 table ('' when contentless), null when it has none. */
export function ftsContentTable(sql: string): string | null {
  if (virtualModule(sql) === 'fts3') return null;
  const m = /\bcontent\s*=\s*('(?:[^']|'')*'|"(?:[^"]|"")*"|[A-Za-z0-9_]+)/i.exec(sql);
  if (!m) return null;
  const v = m[1]!;
  if (v.startsWith("'")) return v.slice(1, -1).replaceAll("''", "'");
  if (v.startsWith('"')) return v.slice(1, -1).replaceAll('""', '"');
  return v;
}

/**
 * Whether a virtual table keeps rows of its own that a dump carries: FTS3/4/5 without an external or no content,
 * R*Tree and Geopoly. Any other module (or a contentless FTS4, where even `count(*)` fails) is schema only.
 */
export function virtualHoldsRows(sql: string): boolean {
  const module = virtualModule(sql);
  return CONTENT_MODULES.has(module) && (!module.startsWith('fts') || ftsContentOption(sql) === 'own');
}

/**
 * The name that reaches the hidden rowid of a table with these columns (`rowid`, `_rowid_` or `oid`, the first the
 * table does not shadow), or null when it shadows all three. The one copy of this rule.
 */
export function hiddenRowidName(columns: readonly string[]): string | null {
  const taken = new Set(columns.map(foldName));
  return ['rowid', '_rowid_', 'oid'].find((n) => !taken.has(n)) ?? null;
}

/** `pragma_table_xinfo` of a table: every column with its declared type, NOT NULL, key position and hidden kind. */
export async function tableColumns(db: Pick<Db, 'query'>, table: string): Promise<ColumnInfo[]> {
  const cols = await db.query('SELECT name, type, "notnull", pk, hidden FROM pragma_table_xinfo(?)', [table]);
  return cols.map((c) => ({ name: str(c[0]), type: str(c[1]), notnull: num(c[2]) === 1, pk: num(c[3]), hidden: num(c[4]) }));
}

/** One table of the main schema as `pragma_table_list` lists it (type: table, view, virtual, shadow). */
export interface ListedTable {
  name: string;
  type: string;
  withoutRowid: boolean;
  strict: boolean;
}

/**
 * The tables of the main schema as `pragma_table_list` sees them. The pragma walks every table of the schema, so a
 * caller that handles many tables reads it once (tablesByName), never once per table: that made a restore quadratic
 * in its tables (6000 one-row tables: 203 s).
 */
export async function tableList(db: Pick<Db, 'query'>): Promise<ListedTable[]> {
  const list = await db.query("SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = 'main'");
  return list.map((r) => ({ name: str(r[0]), type: str(r[1]), withoutRowid: num(r[2]) === 1, strict: num(r[3]) === 1 }));
}

/**
 * The table list read once, looked up by name as SQLite resolves names (ASCII letters folded: a migrated target may
 * spell a table in other letter case). It is the schema as it is now: tables created later are not in it.
 */
export async function tablesByName(db: Pick<Db, 'query'>): Promise<(name: string) => ListedTable | undefined> {
  const byName = new Map<string, ListedTable>();
  for (const t of await tableList(db)) if (!byName.has(foldName(t.name))) byName.set(foldName(t.name), t);
  return (name) => byName.get(foldName(name));
}

/**
 * Which of the tables `pragma_table_list` calls `shadow` a virtual table of the schema really made. SQLite calls a
 * table a shadow by its name alone (`<virtual table>_<a suffix its module claims>`), so an application's own
 * `docs_fts_content` beside an external-content FTS5 `docs_fts` (which makes no `_content` table) is listed as one,
 * and leaving it out would lose its rows without a word. Each virtual table is created in an empty in-memory
 * database to see what its module makes; one that cannot be created there (a module or tokenizer only its
 * application loads) keeps SQLite's listing for its names.
 */
export async function ownedShadows(list: readonly { name: string; type: string }[], objects: readonly unknown[][]): Promise<Set<string>> {
  const listed = list.filter((r) => r.type === 'shadow').map((r) => r.name);
  if (listed.length === 0) return new Set();
  const made = new Set<string>();
  const unknown: string[] = [];
  try {
    const { default: Database } = await import('better-sqlite3');
    const scratch = new Database(':memory:');
    try {
      for (const o of objects) {
        const sql = str(o[3]);
        if (str(o[0]) !== 'table' || !/^\s*create\s+virtual\s+table\b/i.test(sql)) continue;
        try {
          scratch.exec(sql);
        } catch {
          unknown.push(`${foldName(str(o[1]))}_`);
        }
      }
      for (const r of scratch.prepare("SELECT name FROM pragma_table_list WHERE type = 'shadow'").pluck().all()) made.add(foldName(str(r)));
    } finally {
      scratch.close();
    }
  } catch {
    return new Set(listed); // no SQLite of our own here: SQLite's listing as it is
  }
  return new Set(listed.filter((n) => made.has(foldName(n)) || unknown.some((prefix) => foldName(n).startsWith(prefix))));
}

/** A column's type affinity from its declared type, by SQLite's rules (datatype3.html §3.1, in that order). */
export function affinity(declared: string): 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC' {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t.includes('BLOB') || t === '') return 'BLOB';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

/** A name as SQLite compares identifiers: ASCII letters folded, nothing else (sqlite3StrICmp). */
export const foldName = (name: string) => name.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/**
 * Which of `columns` (of the table `listed` on `db`, as tablesByName found it; its hidden rowid by `rowidName`)
 * store an integral REAL as the INTEGER of the same value: INTEGER and NUMERIC affinity, and the rowid. An INTEGER
 * may reach those as a plain number (an exact double below 2^53) instead of a bigint: SQLite stores the same
 * INTEGER, and the load allocates nothing for it. Never a virtual table's column, nor a STRICT table's ANY (no
 * conversion there).
 */
export async function integerColumns(
  db: Pick<Db, 'query'>,
  listed: ListedTable | undefined,
  columns: readonly string[],
  rowidName: string | null,
): Promise<boolean[]> {
  if (listed?.type !== 'table') return columns.map(() => false);
  // Columns as SQLite resolves them: a migrated target may spell a column in other letter case.
  const types = new Map((await tableColumns(db, listed.name)).map((c) => [foldName(c.name), c.type]));
  return columns.map((c) => {
    if (c === rowidName) return true;
    const type = types.get(foldName(c));
    if (type === undefined || (listed.strict && type.toUpperCase() === 'ANY')) return false;
    const a = affinity(type);
    return a === 'INTEGER' || a === 'NUMERIC';
  });
}

/** The row count of `table` (in the open transaction, if any). */
export async function countRows(db: Pick<Db, 'query'>, table: string): Promise<number> {
  return Number((await db.query(`SELECT count(*) FROM ${q(table)}`))[0]![0]);
}

/**
 * The hint for a `--tables`/`--exclude-tables` name that matches no table but one in other letter case: names are
 * matched exactly (a dump's sections are named as the schema names them), and SQLite would have taken it.
 */
export function caseHint(name: string, names: Iterable<string>): string {
  for (const n of names) if (foldName(n) === foldName(name)) return ` (did you mean "${n}"? names are matched exactly)`;
  return '';
}

/** The collations every SQLite has; an application may register others when it opens its file (Anki's `unicase`). */
const BUILT_IN_COLLATIONS = new Set(['binary', 'nocase', 'rtrim']);

/** The collations `sql` names (`COLLATE x`) that no SQLite has built in, as written; quotes and comments skipped. */
export function appCollations(sql: string): string[] {
  const found: string[] = [];
  const tokens = tokenize(sql).filter((t) => t.kind !== 'space' && t.kind !== 'comment');
  for (let i = 0; i + 1 < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'word' || sql.slice(t.start, t.end).toLowerCase() !== 'collate') continue;
    const name = tokenName(sql, tokens[i + 1]!);
    if (!BUILT_IN_COLLATIONS.has(name.toLowerCase()) && !found.includes(name)) found.push(name);
  }
  return found;
}

/**
 * A backup whose tables or indexes use a collation only their application has would write a dump no SQLite can
 * restore (CREATE TABLE and CREATE INDEX refuse an unknown collation): refused before the first row, by name.
 */
function refuseAppCollations(schema: SchemaObject[]): void {
  for (const o of schema) {
    if (o.type !== 'table' && o.type !== 'index') continue;
    const [name] = appCollations(o.sql);
    if (name === undefined) continue;
    const where = o.type === 'table' ? `table "${o.name}"` : `index "${o.name}" of table "${o.tbl_name}"`;
    throw new BackupError(
      'UNSUPPORTED',
      `${where} uses the collation "${name}", which its application defines when it opens the database: no SQLite without it can create it, so no restore could; --exclude-tables "${o.tbl_name}" backs up the rest`,
    );
  }
}

/**
 * Schema text and names are read as UTF-8 text: bytes that are not (an old application's Latin-1 `'µm'` or `Größe`)
 * would come back as U+FFFD, and a restore would then hold another schema, or miss a column, while saying it
 * verified. Such an object is refused by name, before the first row; the check reads the bytes themselves.
 */
async function refuseNonUtf8Schema(source: Pick<Db, 'query'>, kept: (tableName: string) => boolean): Promise<void> {
  const rows = await source.query('SELECT type, name, tbl_name, CAST(name AS BLOB), CAST(tbl_name AS BLOB), CAST(sql AS BLOB) FROM sqlite_schema');
  const bytes = (v: unknown) => (v === null || v === undefined ? Buffer.alloc(0) : Buffer.from(v as Uint8Array));
  for (const r of rows) {
    if (!kept(str(r[2])) || [r[3], r[4], r[5]].every((v) => isUtf8(bytes(v)))) continue;
    const named = isUtf8(bytes(r[3]));
    const where = named ? `${str(r[0])} "${str(r[1])}": its SQL text holds` : `the name of a ${str(r[0])} holds`;
    throw new BackupError(
      'UNSUPPORTED',
      `${where} bytes that are not UTF-8 (an application wrote them in another encoding, such as Latin-1): a dump carries the schema as UTF-8 text and could not restore them exactly; rewrite them in UTF-8${named && str(r[0]) === 'table' ? `, or leave the table out with --exclude-tables "${str(r[1])}"` : ''}`,
    );
  }
}

/**
 * SQLite's words for what only an application (or an extension it loads) adds to SQLite: a function, a collation, a
 * virtual table module, a tokenizer. No other program has it, and no restore can supply it.
 */
export const APP_DEFINED = /^(no such function|no such collation sequence|no such module|unknown tokenizer|no such tokenizer): /;

/**
 * A table whose virtual table module or tokenizer comes from an extension or from the application that made the
 * database (sqlite-vec's vec0, spellfix1, Plex's `tokenize=collating`) cannot be read here: refused by name, with
 * the way to back up the rest.
 */
async function unreadableAs<T>(table: string, read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (e) {
    const why = (e as Error)?.message ?? '';
    if (e instanceof BackupError || !APP_DEFINED.test(why)) throw e;
    throw new BackupError(
      'UNSUPPORTED',
      `table "${table}" cannot be read here (${why}): it needs code an extension or its application loads into SQLite; --exclude-tables "${table}" backs up the rest`,
      { cause: e },
    );
  }
}

/** Schema facts for a backup, read through the open snapshot of `source`. */
export async function introspect(source: Pick<Db, 'query' | 'kind'>, selection: Selection): Promise<SchemaFacts> {
  const objects = await source.query('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid');
  const list = await tableList(source);
  const shadow = await ownedShadows(list, objects);
  const listed = new Map(list.map((r) => [r.name, r]));

  const allTables = objects.filter((o) => o[0] === 'table' && !shadow.has(str(o[1])) && !isInternal('table', str(o[1])));
  const names = allTables.map((o) => str(o[1]));
  for (const n of selection.tables ?? []) {
    if (!names.includes(n)) throw new BackupError('USAGE', `--tables names "${n}", which is not a table of the database${caseHint(n, names)}`);
  }
  for (const n of selection.excludeTables) {
    if (!names.includes(n)) throw new BackupError('USAGE', `--exclude-tables names "${n}", which is not a table of the database${caseHint(n, names)}`);
  }
  const selected = (n: string) => (selection.tables === null || selection.tables.includes(n)) && !selection.excludeTables.includes(n);

  const notes: string[] = [];
  const tables: SchemaFacts['tables'] = [];
  for (const o of allTables) {
    const name = str(o[1]);
    if (!selected(name)) continue;
    tables.push(await unreadableAs(name, describeTable(source, name, str(o[3]), listed.get(name), notes)));
  }
  if (objects.some((o) => str(o[1]) === 'sqlite_sequence') && selectedAutoincrement(tables, allTables)) {
    tables.push(await describeTable(source, 'sqlite_sequence', '', listed.get('sqlite_sequence'), notes));
  }

  const selectedNames = new Set(tables.map((t) => t.name));
  await refuseNonUtf8Schema(source, (tbl) => selectedNames.has(tbl) || (selection.tables === null && selection.excludeTables.length === 0));
  const views = new Set(objects.filter((o) => o[0] === 'view').map((o) => str(o[1])));
  const wholeDatabase = selection.tables === null && selection.excludeTables.length === 0;
  const keep = (o: unknown[]) => {
    const [type, name, tbl, sql] = [str(o[0]), str(o[1]), str(o[2]), str(o[3])];
    if (!sql || isInternal(type, name) || shadow.has(name) || shadow.has(tbl)) return false;
    // A view (and its INSTEAD OF triggers) may read any table: only a backup of every table carries it.
    if (type === 'view' || (type === 'trigger' && views.has(tbl))) return wholeDatabase;
    return selectedNames.has(tbl);
  };
  // Tables first, then the other objects in the order they were created, as sqlite3's .dump replays them: a restore
  // loads the tables before it builds their indexes, and a restored file's .dump is then the source's, line for line.
  // Creation order is always a valid one: an index's or trigger's table exists (every table comes first), a view's
  // INSTEAD OF triggers come after it (dropping a view drops them), and a view may name a view created after it.
  const kept = objects.filter(keep).map((o) => ({ type: str(o[0]) as SchemaObject['type'], name: str(o[1]), tbl_name: str(o[2]), sql: str(o[3]) }));
  const schema: SchemaObject[] = [...kept.filter((o) => o.type === 'table'), ...kept.filter((o) => o.type !== 'table')];
  refuseAppCollations(schema);

  const pragma = async (p: string) => num((await source.query(`SELECT * FROM pragma_${p}`))[0]?.[0]);
  return {
    schema,
    tables,
    notes,
    sqlite: {
      pageSize: await pragma('page_size'),
      userVersion: await pragma('user_version'),
      applicationId: await pragma('application_id'),
      // Settable only before a file's first table, so a restore can give them to a file it creates.
      autoVacuum: await pragma('auto_vacuum'),
      encoding: str((await source.query('SELECT * FROM pragma_encoding'))[0]?.[0]),
      // WAL is the one journal mode a file keeps (in its header); a server's own mode is not the database's.
      ...(source.kind === 'file' && str((await source.query('SELECT * FROM pragma_journal_mode'))[0]?.[0]).toLowerCase() === 'wal'
        ? { journalMode: 'wal' as const }
        : {}),
    },
  };
}

function selectedAutoincrement(tables: SchemaFacts['tables'], all: unknown[][]): boolean {
  const chosen = new Set(tables.map((t) => t.name));
  return all.some((o) => chosen.has(str(o[1])) && /\bautoincrement\b/i.test(str(o[3])));
}

async function describeTable(
  source: Pick<Db, 'query'>,
  name: string,
  sql: string,
  listed: { type: string; withoutRowid: boolean; strict: boolean } | undefined,
  notes: string[],
): Promise<Omit<TableInfo, 'rows'>> {
  const columns = await tableColumns(source, name);
  const virtual = listed?.type === 'virtual' || /^\s*create\s+virtual\s+table/i.test(sql);
  const withoutRowid = listed?.withoutRowid ?? false;
  const strict = listed?.strict ?? false;
  // Generated (hidden 2/3) and virtual-table hidden (1) columns are schema, never data.
  const plain = columns.filter((c) => c.hidden === 0).map((c) => c.name);

  if (virtual) {
    const module = virtualModule(sql);
    if (!virtualHoldsRows(sql)) {
      const content = module.startsWith('fts') ? ftsContentOption(sql) : 'own';
      notes.push(
        content === 'external'
          ? `${name}: external-content ${module} table; not dumped, rebuilt from its content table on restore`
          : `${name}: ${module} virtual table (${content}); its data cannot be dumped, only its schema`,
      );
      return { name, kind: 'virtual', module, withoutRowid: false, strict: false, columns, dataColumns: [], rowidColumn: false, keyColumns: [] };
    }
    return {
      name,
      kind: 'virtual',
      module,
      withoutRowid: false,
      strict: false,
      columns,
      dataColumns: ['rowid', ...plain],
      rowidColumn: true,
      keyColumns: ['rowid'],
    };
  }

  if (withoutRowid) {
    const key = columns
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
    return { name, kind: 'table', withoutRowid, strict, columns, dataColumns: plain, rowidColumn: false, keyColumns: key };
  }

  const pkCols = columns.filter((c) => c.pk > 0);
  if (pkCols.length === 1 && pkCols[0]!.type.toUpperCase() === 'INTEGER') {
    // INTEGER PRIMARY KEY is a rowid alias unless declared DESC, in which case SQLite builds a separate index.
    const idx = await source.query('SELECT origin FROM pragma_index_list(?)', [name]);
    if (!idx.some((r) => r[0] === 'pk')) {
      return { name, kind: 'table', withoutRowid, strict, columns, dataColumns: plain, rowidColumn: false, keyColumns: [pkCols[0]!.name] };
    }
  }
  const alias = hiddenRowidName(columns.map((c) => c.name));
  if (!alias) {
    throw new BackupError(
      'UNSUPPORTED',
      `table "${name}" has columns named rowid, _rowid_ and oid: its rowid cannot be read (--exclude-tables "${name}" backs up the rest)`,
    );
  }
  return { name, kind: 'table', withoutRowid, strict, columns, dataColumns: [alias, ...plain], rowidColumn: true, keyColumns: [alias] };
}
