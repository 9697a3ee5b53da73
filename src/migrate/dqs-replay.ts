/**
 * Running migration statements on a local SQLite without double-quoted string literals, with the result a SQLite
 * with them gives (dqs.ts explains the rule and the probing; schema-text.ts how stored text is kept).
 *
 * Three ways such SQL shows up, all answered with SQLite's own verdict:
 * - in the statement itself (INSERT … SELECT "global", CHECK (x IN ("a")), a partial index's WHERE): the tokens
 *   SQLite refuses are rewritten as literals, the statement runs, and any schema row it wrote is registered so its
 *   stored text gets the original spelling back at the end;
 * - in a stored object the statement uses (a trigger it fires, a view it reads, a table whose CHECK was added by
 *   ALTER TABLE): that object is rewritten in its stored text (found by trying it in a scratch database holding
 *   the schema's tables and views) and registered, and the statement runs again;
 * - in a stored object ALTER TABLE re-parses (`error in trigger t: …`): the same, for the object named.
 */
import { type LocalEngine, StatementError } from './db.js';
import { hasDoubleQuoted, parseDqsError, resolveDqs, type Check, type Literal, type Resolution } from './dqs.js';
import { alignTokens } from './lcs.js';
import { SchemaTextRegistry, solidTokens } from './schema-text.js';

type SchemaRow = [rowid: bigint, type: string, name: string, sql: string];

const schemaRows = (engine: LocalEngine, where: string, args: unknown[] = []): SchemaRow[] =>
  engine.rows(`SELECT rowid, type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL AND ${where} ORDER BY rowid`, args) as SchemaRow[];

/** Literals of a resolution, indexed among the solid tokens of its text. */
function solidLiterals(r: Resolution): Literal[] {
  const { fullIndex } = solidTokens(r.text);
  return r.literals.map((l) => ({ ...l, index: fullIndex.get(l.index)! }));
}

/** One run's replay on a local connection: `run` each statement, then `finish` once. */
export class DqsReplay {
  readonly registry = new SchemaTextRegistry();

  constructor(private readonly engine: LocalEngine) {}

  /** Compile errors first (cheap, no effect); errors that only show when running come from a rolled-back trial. */
  private readonly checkStatement: Check = (sql) => this.engine.compile(sql) ?? this.engine.trial(sql);

  /** Runs one statement as a DQS-accepting SQLite would. Throws the StatementError SQLite gives otherwise. */
  run(statement: string): void {
    let text = statement;
    let literals: Literal[] = [];
    for (let attempt = 0; ; attempt++) {
      const before = literals.length ? this.snapshot() : null;
      let error: StatementError;
      try {
        this.engine.execNow(text);
        this.registry.follow(this.engine);
        if (before) this.registerWrites(before, { text, literals, error: null });
        // SQLite has just stored every double-quoted literal of the schema in single quotes (not RAISE messages):
        // the text to put back is the one stored now.
        if (fixesQuotes(text)) this.registry.clear(isRaiseMessage);
        return;
      } catch (e) {
        if (!(e instanceof StatementError)) throw e;
        error = e;
      }
      const dqs = parseDqsError(error.message);
      if (!dqs || attempt > 100) throw error;
      if (dqs.object) {
        if (this.normalize(schemaRows(this.engine, 'type = ? AND name = ?', [dqs.object.type, dqs.object.name]))) continue;
        throw error;
      }
      const r = resolveDqs(text, this.checkStatement);
      if (r.literals.length) {
        text = r.text;
        literals = [...literals, ...r.literals];
        continue;
      }
      if (this.normalizeUsing(dqs.token)) continue;
      throw error;
    }
  }

  /** Puts the original text back into every object rewritten during the run; names those it could not. */
  finish(): string[] {
    return this.registry.restore(this.engine);
  }

  private snapshot(): Map<bigint, SchemaRow> {
    return new Map(schemaRows(this.engine, '1').map((r) => [r[0], r]));
  }

  /** Registers the rewritten literals of a statement in every schema row it created or changed. */
  private registerWrites(before: Map<bigint, SchemaRow>, r: Resolution): void {
    const statement = solidTokens(r.text);
    const literals = solidLiterals(r);
    for (const [rowid, type, name, sql] of this.snapshot().values()) {
      if (before.get(rowid)?.[3] === sql) continue;
      const map = alignTokens(statement.texts, solidTokens(sql).texts);
      const moved = literals.flatMap((l) => (map.has(l.index) ? [{ ...l, index: map.get(l.index)! }] : []));
      if (moved.length) this.registry.register({ rowid, type, name }, sql, moved);
    }
  }

  /** Rewrites the stored objects that hold `token` double-quoted: views and triggers first (read when used), then tables and indexes. */
  private normalizeUsing(token: string): boolean {
    const holding = (type: string) => schemaRows(this.engine, 'type = ?', [type]).filter((r) => hasDoubleQuoted(r[3], token));
    return this.normalize([...holding('view'), ...holding('trigger')]) || this.normalize([...holding('table'), ...holding('index')]);
  }

  /** Stores the DQS-free form of each row that needs one; true if any changed. */
  private normalize(rows: SchemaRow[]): boolean {
    let changed = false;
    for (const row of rows) {
      const r = this.resolveStored(row);
      if (!r.literals.length) continue;
      this.engine.setStoredSql(row[0], r.text, true);
      this.registry.register({ rowid: row[0], type: row[1], name: row[2] }, r.text, solidLiterals(r));
      changed = true;
    }
    return changed;
  }

  /** Finds the DQS tokens of a stored object by trying it in a scratch database holding the other tables and views. */
  private resolveStored([rowid, type, name, sql]: SchemaRow): Resolution {
    const scratch = this.engine.scratch();
    try {
      for (const [id, , , ctx] of schemaRows(this.engine, "type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")) {
        if (id !== rowid) createQuietly(scratch, ctx);
      }
      return resolveDqs(sql, storedCheck(scratch, type, name, sql));
    } finally {
      scratch.close();
    }
  }
}

const isComment = (token: string) => token.startsWith('--') || token.startsWith('/*');

/**
 * Whether `statement` is `ALTER TABLE … RENAME [COLUMN] x TO y` or `ALTER TABLE … DROP [COLUMN] x`. After either,
 * a SQLite that accepts double-quoted literals rewrites every one left in the schema's tables, indexes, views and
 * triggers in single quotes (alter.c, renameFixQuotes; RENAME TO does not), so the sqlite3 shell and Prisma store
 * them that way; a RAISE message is no literal there and keeps its quotes (isRaiseMessage). (An ALTER of a TEMP
 * table fixes the temp schema instead: not told apart here, migrations do not make them.)
 */
export function fixesQuotes(statement: string): boolean {
  const words = solidTokens(statement)
    .texts.filter((t) => !isComment(t))
    .map((t) => t.toUpperCase());
  if (words[0] !== 'ALTER' || words[1] !== 'TABLE') return false;
  const action = words[3] === '.' ? 5 : 3;
  return words[action] === 'DROP' || (words[action] === 'RENAME' && words[action + 1] !== 'TO');
}

/** Up to `n` upper-cased tokens of `tokens` from `index` on in direction `step` (not counting `index`), comments skipped. */
function codeTokens(tokens: readonly string[], index: number, step: 1 | -1, n: number): string[] {
  const out: string[] = [];
  for (let i = index + step; i >= 0 && i < tokens.length && out.length < n; i += step) {
    if (!isComment(tokens[i]!)) out.push(tokens[i]!.toUpperCase());
  }
  return out;
}

/**
 * Whether token `index` of `tokens` (solid tokens) is the message of `RAISE(ABORT|FAIL|ROLLBACK, "message")`.
 * Prisma's SQLite (3.45/3.46, bundled by libsqlite3-sys) parses that message as a name, not an expression (SQLite
 * 3.47 made it one), so the quote fixing of RENAME COLUMN and DROP COLUMN never reaches it and it keeps its double
 * quotes; this driver's newer SQLite reads it as an expression, refuses it, and the replay rewrote it.
 */
export function isRaiseMessage(tokens: readonly string[], index: number): boolean {
  const [comma, type, open, raise] = codeTokens(tokens, index, -1, 4);
  const raiseType = type === 'ABORT' || type === 'FAIL' || type === 'ROLLBACK';
  return comma === ',' && raiseType && open === '(' && raise === 'RAISE' && codeTokens(tokens, index, 1, 1)[0] === ')';
}

/** Creates a context object in the scratch database, DQS-rewritten if needed; failures (virtual table shadows) are skipped. */
function createQuietly(scratch: LocalEngine, sql: string): void {
  const r = resolveDqs(sql, (s) => scratch.compile(s));
  try {
    scratch.execNow(r.text);
  } catch {
    // Context only: an object the scratch database cannot hold (a shadow table its virtual table already made).
  }
}

/** How to make SQLite resolve a stored object's SQL in the scratch database. */
function storedCheck(scratch: LocalEngine, type: string, name: string, sql: string): Check {
  if (type === 'table' || type === 'index') return (variant) => scratch.compile(variant);
  const quoted = `"${name.replaceAll('"', '""')}"`;
  const use = type === 'view' ? `SELECT * FROM ${quoted}` : firingStatement(scratch, sql);
  const drop = `DROP ${type === 'view' ? 'VIEW' : 'TRIGGER'} IF EXISTS ${quoted}`;
  return (variant) => {
    try {
      scratch.execNow(drop);
      scratch.execNow(variant);
    } catch (e) {
      return (e as Error).message;
    }
    return use === null ? null : scratch.compile(use);
  };
}

/** A statement that fires a trigger (compiling it codes the trigger's body), from the trigger's header. */
export function firingStatement(scratch: LocalEngine, sql: string): string | null {
  const words = solidTokens(sql).texts;
  const upper = words.map((w) => w.toUpperCase());
  const on = upper.indexOf('ON');
  if (on < 0 || on + 1 >= words.length) return null;
  let table = words[on + 1]!;
  if (words[on + 2] === '.') table = `${table}.${words[on + 3]}`;
  const event = upper
    .slice(0, on)
    .reverse()
    .find((w) => w === 'INSERT' || w === 'DELETE' || w === 'UPDATE');
  if (event === 'INSERT') return `INSERT INTO ${table} DEFAULT VALUES`;
  if (event === 'DELETE') return `DELETE FROM ${table}`;
  if (event !== 'UPDATE') return null;
  const of = upper.indexOf('OF');
  const column = of >= 0 && of < on ? words[of + 1]! : (scratch.rows(`SELECT name FROM pragma_table_info(?)`, [unquote(table)])[0]?.[0] as string | undefined);
  return column === undefined ? null : `UPDATE ${table} SET ${quoteIfBare(column)} = ${quoteIfBare(column)}`;
}

const unquote = (name: string) => (/^["`[]/.test(name) ? name.slice(1, -1) : name);
const quoteIfBare = (name: string) => (/^["`[]/.test(name) ? name : `"${name.replaceAll('"', '""')}"`);
