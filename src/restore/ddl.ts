/**
 * Replaying schema SQL written for old SQLite builds. SQLite used to accept a double-quoted token as a string
 * literal when it named no column ("DQS"); Prisma-era and hand-written schemas contain such SQL (`DEFAULT "active"`,
 * `CHECK (kind IN ("a","b"))`, `WHERE status = "open"` in views and triggers). Such a schema still loads, but
 * current builds (better-sqlite3, libSQL, Turso) refuse to CREATE it. When a CREATE fails that way, each
 * double-quoted token that names no known table, column, index, view or trigger is rewritten as the string literal
 * SQLite would have taken it for, and the statement is run again.
 */
import type { Db } from '../db/types.js';
import { BackupError } from '../errors.js';
import type { HeaderLine } from '../format/lines.js';
import { foldName, tableColumns } from '../db/schema.js';
import { tokenize, tokenName } from '../sql-text.js';

const ALWAYS_IDENTIFIERS = ['new', 'old', 'excluded', 'main', 'temp', 'rowid', 'oid', '_rowid_'];

export function isDoubleQuotedStringError(e: unknown): boolean {
  const m = (e as Error)?.message ?? '';
  return /should this be a string literal in single-quotes|no such column: "/.test(m) || /^no such column: /.test(m);
}

export function knownIdentifiers(names: Iterable<string>): Set<string> {
  const s = new Set(ALWAYS_IDENTIFIERS);
  for (const n of names) s.add(foldName(n));
  return s;
}

/** Rewrites double-quoted tokens that are not known identifiers as single-quoted string literals. */
export function rewriteDoubleQuotedStrings(sql: string, known: Set<string>): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c;
      let j = i + 1;
      for (; j < n; j++) {
        if (sql[j] === close) {
          if (close !== ']' && sql[j + 1] === close) j++;
          else break;
        }
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const j = sql.indexOf('\n', i);
      const end = j < 0 ? n : j;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const j = sql.indexOf('*/', i + 2);
      const end = j < 0 ? n : j + 2;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      let text = '';
      for (; j < n; j++) {
        if (sql[j] === '"') {
          if (sql[j + 1] === '"') {
            text += '"';
            j++;
          } else break;
        } else text += sql[j];
      }
      out += known.has(foldName(text)) ? sql.slice(i, j + 1) : `'${text.replaceAll("'", "''")}'`;
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/**
 * Runs schema SQL on the target inside the load; SQL that only an old SQLite accepted (double-quoted string
 * literals) is created from an equivalent rewrite, and its original text kept where the target allows.
 */
export function schemaReplayer(db: Db, header: HeaderLine | null, warnings: string[]) {
  const names = [...(header?.schema.map((o) => o.name) ?? []), ...(header?.tables.flatMap((t) => [t.name, ...t.columns.map((c) => c.name)]) ?? [])];
  const known = knownIdentifiers(names);
  const columns = targetColumns(db, known);
  return async (name: string, sql: string) => {
    try {
      await db.write(sql);
      columns.created(name);
    } catch (e) {
      if (isReservedNameError(e)) {
        await createReserved(db, name, sql);
        columns.created(name);
        return;
      }
      if (!isDoubleQuotedStringError(e)) throw new BackupError('SCHEMA', `cannot create "${name}" on the target: ${(e as Error).message}`);
      // Columns of the tables and views created so far are identifiers too (views select from views).
      await columns.learn();
      try {
        await db.write(rewriteDoubleQuotedStrings(sql, known));
      } catch (e2) {
        const scope = isDoubleQuotedStringError(e2) && header ? tableScope(header, name, sql) : null;
        if (!scope) throw new BackupError('SCHEMA', `cannot create "${name}" on the target: ${(e2 as Error).message}`);
        try {
          await db.write(rewriteDoubleQuotedStrings(sql, scope));
        } catch (e3) {
          throw new BackupError('SCHEMA', `cannot create "${name}" on the target: ${(e3 as Error).message}`);
        }
      }
      columns.created(name);
      if (db.setSchemaSql) await db.setSchemaSql(name, sql);
      else warnings.push(`"${name}" used double-quoted string literals, which the target refuses: created with single quotes`);
    }
  };
}

/**
 * The columns of the target's tables and views, added to `known` when a statement needs them (learn): the whole
 * schema is read at the first need, and after that only the objects created since, by name. Read whole at every
 * need, a schema of many tables with such literals was read once per table: quadratic in its tables.
 */
function targetColumns(db: Db, known: Set<string>) {
  let read = false;
  const since: string[] = [];
  return {
    /** `name` was created (an index's or a trigger's name has no columns: pragma_table_xinfo lists none). */
    created(name: string): void {
      if (read) since.push(name);
    },
    async learn(): Promise<void> {
      if (read) {
        for (const name of since.splice(0)) for (const c of await tableColumns(db, name)) known.add(foldName(c.name));
        return;
      }
      const all = await db.query("SELECT p.name FROM sqlite_schema s, pragma_table_xinfo(s.name) p WHERE s.type IN ('table', 'view')");
      for (const r of all) known.add(foldName(String(r[0])));
      read = true;
    },
  };
}

const isReservedNameError = (e: unknown) => /object name reserved for internal use/.test((e as Error)?.message ?? '');

/**
 * An object whose name SQLite reserves: an application's table named like a shadow table of a virtual table created
 * before it, or an index an old Prisma named `sqlite_autoindex_…` under writable_schema. The source holds it, so a
 * local target gets it the way the application made it; a server that allows neither is refused by name (the load
 * is rolled back).
 */
async function createReserved(db: Db, name: string, sql: string): Promise<void> {
  if (!db.createReserved) {
    throw new BackupError(
      'SCHEMA',
      `cannot create "${name}" on the target: SQLite reserves that name, and only a local file's restore can create it as its application did (writable_schema); restore into a file, or rename it in the source`,
    );
  }
  try {
    await db.createReserved(sql);
  } catch (e) {
    throw new BackupError('SCHEMA', `cannot create "${name}" on the target: ${(e as Error).message}`);
  }
}

/** The columns `sql`'s foreign keys name: `REFERENCES table (a, b)`, quotes and comments skipped. */
function referencedColumns(sql: string): string[] {
  const tokens = tokenize(sql).filter((t) => t.kind !== 'space' && t.kind !== 'comment');
  const out: string[] = [];
  for (let i = 0; i + 2 < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'word' || sql.slice(t.start, t.end).toLowerCase() !== 'references' || sql[tokens[i + 2]!.start] !== '(') continue;
    for (let j = i + 3; j < tokens.length && sql[tokens[j]!.start] !== ')'; j++) if (tokens[j]!.kind !== 'other') out.push(tokenName(sql, tokens[j]!));
  }
  return out;
}

/**
 * The names a CREATE TABLE's expressions can resolve, as SQLite scopes them: in a CHECK, a DEFAULT or a generated
 * column only the table's own columns are columns, so `CHECK (status IN ("active", "done"))` takes "done" for a string
 * even when another table has a column `done`. Names of schema objects, and the columns its foreign keys name, stay
 * identifiers. Null for an object that is not a table of the dump.
 */
function tableScope(header: HeaderLine, name: string, sql: string): Set<string> | null {
  const table = header.tables.find((t) => t.name === name);
  if (!table) return null;
  const names = [...header.schema.map((o) => o.name), ...header.tables.map((t) => t.name), ...table.columns.map((c) => c.name)];
  return knownIdentifiers([...names, ...referencedColumns(sql)]);
}
