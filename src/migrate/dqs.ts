/**
 * SQLite's double-quoted string literals ("DQS"), replayed on a driver built without them.
 *
 * A SQLite built with the default options (as Prisma's schema engine is: rusqlite's bundled libsqlite3-sys does not
 * set SQLITE_DQS, see rusqlite/rusqlite libsqlite3-sys/build.rs) takes a double-quoted token that names no column
 * in scope for a string literal: `SELECT "global" FROM t`, `CHECK (kind IN ("a", "b"))`, `WHERE status = "open"`.
 * better-sqlite3 and libsql are compiled with SQLITE_DQS=0 and refuse such SQL with
 * `no such column: "global" - should this be a string literal in single-quotes?`. (`DEFAULT "x"` needs nothing:
 * SQLite's grammar always reads that token as a string.)
 *
 * The replay is exact because SQLite itself decides: when it refuses a token, each double-quoted occurrence of
 * that text is tried in turn with a probe name in its place; the occurrence whose probe SQLite then names is the
 * one it could not resolve, and only that one is rewritten as a single-quoted literal. Repeat until SQLite accepts
 * the statement. Occurrences SQLite resolves (column names, aliases, the INSERT column list) are never touched.
 */
import { dequote, singleQuoted, tokenize } from '../sql-text.js';

/** A check runs a variant of a statement (compile, or a rolled-back trial) and returns SQLite's error, or null. */
export type Check = (sql: string) => string | null;

/** A double-quoted token rewritten as a literal: its token index in the text, and both spellings. */
export interface Literal {
  index: number;
  original: string;
  rewritten: string;
}

export interface DqsError {
  /** The token's text, as SQLite names it (without quotes). */
  token: string;
  /** Set when SQLite was re-reading a stored schema object (ALTER TABLE re-parses every object). */
  object?: { type: string; name: string };
}

const DQS_MESSAGE =
  /^(?:error in (table|view|trigger|index) (.+?)(?: after (?:rename|drop column))?: )?no such column: "([\s\S]*)" - should this be a string literal in single-quotes\?$/;

/** The token named by SQLite's double-quoted-string refusal, or null for any other error. */
export function parseDqsError(message: string): DqsError | null {
  const m = DQS_MESSAGE.exec(message.trim());
  if (!m) return null;
  return m[1] ? { token: m[3]!, object: { type: m[1], name: m[2]! } } : { token: m[3]! };
}

/** A name no schema uses, put in place of one occurrence to see whether SQLite then names it. */
const PROBE = '__turso_backup_dqs_probe__';

const replaceSpan = (text: string, start: number, end: number, by: string) => text.slice(0, start) + by + text.slice(end);

/** The index of the double-quoted occurrence of `token` that SQLite cannot resolve in `text`, or -1. */
function failingOccurrence(text: string, token: string, check: Check): number {
  const tokens = tokenize(text);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'dq' || dequote(text.slice(t.start, t.end)) !== token) continue;
    const named = parseDqsError(check(replaceSpan(text, t.start, t.end, `"${PROBE}"`)) ?? '');
    if (named?.token === PROBE && !named.object) return i;
  }
  return -1;
}

export interface Resolution {
  /** The statement with every token SQLite took for a string written as a literal. */
  text: string;
  literals: Literal[];
  /** The error SQLite still gives for `text` (another cause), or null. */
  error: string | null;
}

/** Rewrites, one at a time, the double-quoted tokens SQLite takes for string literals in `text`. */
export function resolveDqs(text: string, check: Check, limit = 500): Resolution {
  let cur = text;
  const literals: Literal[] = [];
  for (let n = 0; n < limit; n++) {
    const error = check(cur);
    const dqs = error === null ? null : parseDqsError(error);
    if (error === null || !dqs || dqs.object) return { text: cur, literals, error };
    const index = failingOccurrence(cur, dqs.token, check);
    if (index < 0) return { text: cur, literals, error };
    const t = tokenize(cur)[index]!;
    const rewritten = singleQuoted(dqs.token);
    literals.push({ index, original: cur.slice(t.start, t.end), rewritten });
    cur = replaceSpan(cur, t.start, t.end, rewritten);
  }
  return { text: cur, literals, error: check(cur) };
}

/** Whether `sql` holds a double-quoted token spelled `token`. */
export function hasDoubleQuoted(sql: string, token: string): boolean {
  return tokenize(sql).some((t) => t.kind === 'dq' && dequote(sql.slice(t.start, t.end)) === token);
}
