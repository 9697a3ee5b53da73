/**
 * SQL text cut into statements exactly where SQLite cuts it, and the quoting helpers that go with it: core, no
 * database. Two users: migrations (migrate/deploy.ts runs a migration.sql statement by statement, as Prisma's
 * rusqlite `execute_batch` prepares it, so that the failing line can be named and SQLite's double-quoted-string rule
 * replayed: prisma-engines schema-engine/connectors/sql-schema-connector/src/flavour/sqlite/connector/native/mod.rs,
 * `apply_migration_script`), and a dump's schema entries (format/schema-entry.ts: each must be one statement). The
 * cut points follow SQLite's own statement completion state machine (sqlite3_complete in src/complete.c): a `;`
 * ends a statement except inside `CREATE [TEMP] TRIGGER … BEGIN … END`, and quotes and comments hide everything in
 * them.
 */

export type TokenKind = 'space' | 'comment' | 'string' | 'dq' | 'ident' | 'word' | 'semi' | 'other';

export interface Token {
  kind: TokenKind;
  start: number;
  end: number;
}

export interface Statement {
  /**
   * From the first token through the `;` that ends it (comments inside kept): what sqlite3_prepare parses, so
   * errors read as Prisma's (`near ";": syntax error`); SQLite stores CREATE text without the `;`.
   */
  text: string;
  /** 1-based line of the statement's first token in the script. */
  line: number;
  /** Offset of `text` in the script. */
  offset: number;
}

/** SQLite's spaces, and a UTF-8 byte-order mark where a token starts (tokenize.c CC_BOM: a Windows editor's file). */
const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\uFEFF';
/** SQLite's IdChar: ASCII letters, digits, `_`, `$`, and every byte of a multi-byte character. */
const isIdChar = (c: string) => /[A-Za-z0-9_$]/.test(c) || c.charCodeAt(0) >= 0x80;

/** The end of a quoted token that starts at `i` with `open` and closes with `close` (doubled close = escape). */
function quotedEnd(sql: string, i: number, close: string, doubling: boolean): number {
  for (let j = i + 1; j < sql.length; j++) {
    if (sql[j] !== close) continue;
    if (doubling && sql[j + 1] === close) j++;
    else return j + 1;
  }
  return sql.length; // unterminated: SQLite reports it; the statement runs to the end of the script
}

/** One token starting at `i`. */
function tokenAt(sql: string, i: number): Token {
  const c = sql[i]!;
  const at = (kind: TokenKind, end: number): Token => ({ kind, start: i, end });
  if (isSpace(c)) {
    let j = i + 1;
    while (j < sql.length && isSpace(sql[j]!)) j++;
    return at('space', j);
  }
  if (c === '-' && sql[i + 1] === '-') {
    const nl = sql.indexOf('\n', i);
    return at('comment', nl < 0 ? sql.length : nl);
  }
  if (c === '/' && sql[i + 1] === '*') {
    const close = sql.indexOf('*/', i + 2);
    return at('comment', close < 0 ? sql.length : close + 2);
  }
  if (c === "'") return at('string', quotedEnd(sql, i, "'", true));
  if (c === '"') return at('dq', quotedEnd(sql, i, '"', true));
  if (c === '`') return at('ident', quotedEnd(sql, i, '`', true));
  if (c === '[') return at('ident', quotedEnd(sql, i, ']', false));
  if (c === ';') return at('semi', i + 1);
  if (isIdChar(c)) {
    let j = i + 1;
    while (j < sql.length && isIdChar(sql[j]!)) j++;
    return at('word', j);
  }
  return at('other', i + 1);
}

/** Every token of `sql`, in order; together they cover the text exactly. */
/** The name a word or quoted token of `sql` spells: quotes removed, doubled quotes undone (`[x]` has no escape). */
export function tokenName(sql: string, t: Token): string {
  const raw = sql.slice(t.start, t.end);
  const open = raw[0]!;
  if (t.kind === 'word' || open === '[') return raw.replace(/^\[|\]$/g, '');
  return raw.slice(1, -1).replaceAll(open + open, open);
}

export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < sql.length; ) {
    const t = tokenAt(sql, i);
    out.push(t);
    i = t.end;
  }
  return out;
}

/** Token classes of sqlite3_complete. */
enum Tk {
  Semi,
  Ws,
  Other,
  Explain,
  Create,
  Temp,
  Trigger,
  End,
}

/** sqlite3_complete's transition table (states: 0 invalid, 1 start, 2 normal, 3 explain, 4 create, 5 trigger, 6 semi, 7 end). */
const TRANS: readonly (readonly number[])[] = [
  [1, 0, 2, 3, 4, 2, 2, 2],
  [1, 1, 2, 3, 4, 2, 2, 2],
  [1, 2, 2, 2, 2, 2, 2, 2],
  [1, 3, 3, 2, 4, 2, 2, 2],
  [1, 4, 2, 2, 2, 4, 5, 2],
  [6, 5, 5, 5, 5, 5, 5, 5],
  [6, 6, 5, 5, 5, 5, 5, 7],
  [1, 7, 5, 5, 5, 5, 5, 5],
];

function classify(sql: string, t: Token): Tk {
  if (t.kind === 'semi') return Tk.Semi;
  if (t.kind === 'space' || t.kind === 'comment') return Tk.Ws;
  if (t.kind !== 'word') return Tk.Other;
  switch (sql.slice(t.start, t.end).toLowerCase()) {
    case 'explain':
      return Tk.Explain;
    case 'create':
      return Tk.Create;
    case 'temp':
    case 'temporary':
      return Tk.Temp;
    case 'trigger':
      return Tk.Trigger;
    case 'end':
      return Tk.End;
    default:
      return Tk.Other;
  }
}

const significant = (t: Token) => t.kind !== 'space' && t.kind !== 'comment';

/**
 * 1-based line numbers of offsets taken in increasing order (a CRLF counts as one line end). Each call counts on
 * from where the previous one stopped, so numbering every statement of a script reads it once: counting from the
 * start for each statement took 30 s on a 2 MB seed migration of 20,000 INSERTs.
 */
export function lineCounter(sql: string): (offset: number) => number {
  let line = 1;
  let at = 0;
  return (offset) => {
    if (offset < at) throw new RangeError(`lineCounter: offset ${offset} is before ${at}`);
    for (; at < offset; at++) if (sql.charCodeAt(at) === 10) line++;
    return line;
  };
}

/**
 * The statements of a script, in order, as sqlite3_prepare would take them one after the other. Empty statements
 * (a lone `;`, only comments) are left out: SQLite prepares them to nothing and runs nothing.
 */
export function splitStatements(sql: string): Statement[] {
  const out: Statement[] = [];
  let state = 0;
  let first: Token | null = null;
  let last: Token | null = null;
  const lineAt = lineCounter(sql);
  const flush = (end: number) => {
    if (first) out.push({ text: sql.slice(first.start, end), line: lineAt(first.start), offset: first.start });
    first = last = null;
  };
  for (const t of tokenize(sql)) {
    state = TRANS[state]![classify(sql, t)]!;
    if (t.kind === 'semi' && state === 1) {
      flush(t.end);
      continue;
    }
    if (!significant(t)) continue;
    first ??= t;
    last = t;
  }
  if (last) flush((last as Token).end);
  return out;
}

/** The text of a double-quoted token without its quotes, `""` undone. */
export const dequote = (raw: string): string => raw.slice(1, raw.endsWith('"') && raw.length > 1 ? -1 : undefined).replaceAll('""', '"');

/** `text` as an SQL string literal. */
export const singleQuoted = (text: string): string => `'${text.replaceAll("'", "''")}'`;
