/**
 * Keeping stored schema text as a double-quoted-string SQLite would store it.
 *
 * While migrations run on a driver without DQS, an object whose SQL relies on DQS has to be stored in its
 * rewritten form: such a driver re-reads stored SQL when it fires a trigger, uses a view, or runs ALTER TABLE (which
 * re-parses every object of the schema) and would refuse the original. The registry remembers, for each such
 * sqlite_schema row, which tokens are rewritten literals; at the end of the run the original spellings are put
 * back, so sqlite_schema holds the text `prisma migrate deploy` would have left. Tokens are found again by
 * aligning token sequences, because SQLite may have edited the text in between (a RENAME rewrites names, ADD
 * COLUMN inserts one). Rows are found again by their object's type and name after every statement (`follow`),
 * because a rowid does not last: VACUUM renumbers sqlite_schema.
 */
import type { LocalEngine } from './db.js';
import type { Literal } from './dqs.js';
import { alignTokens } from './lcs.js';
import { tokenize, type Token } from '../sql-text.js';

/** The non-blank tokens of a text (comments included: SQLite stores them), with their spans. */
export function solidTokens(sql: string): { texts: string[]; spans: Token[]; fullIndex: Map<number, number> } {
  const texts: string[] = [];
  const spans: Token[] = [];
  const fullIndex = new Map<number, number>();
  tokenize(sql).forEach((t, i) => {
    if (t.kind === 'space') return;
    fullIndex.set(i, texts.length);
    texts.push(sql.slice(t.start, t.end));
    spans.push(t);
  });
  return { texts, spans, fullIndex };
}

/** A sqlite_schema row, and the object it holds. */
export interface SchemaKey {
  rowid: bigint;
  type: string;
  name: string;
}

interface Entry {
  /** The object, to find its row again after VACUUM (or its new name after ALTER TABLE … RENAME TO). */
  type: string;
  name: string;
  /** The solid tokens of the row's SQL when last registered. */
  tokens: string[];
  /** Literals by their position among those tokens. */
  literals: Literal[];
}

/** The sqlite_schema rows stored in rewritten form during a run, and how to give them their original text back. */
export class SchemaTextRegistry {
  private rows = new Map<bigint, Entry>();

  get size(): number {
    return this.rows.size;
  }

  /**
   * Registers rewritten literals of the row `key.rowid`, whose stored SQL is now `sql`; `literals` index its solid
   * tokens. Literals registered before for the row are carried over to the new text.
   */
  register(key: SchemaKey, sql: string, literals: Literal[]): void {
    const tokens = solidTokens(sql).texts;
    const carried = this.carry(this.rows.get(key.rowid), tokens);
    const taken = new Set(literals.map((l) => l.index));
    this.rows.set(key.rowid, { type: key.type, name: key.name, tokens, literals: [...literals, ...carried.filter((l) => !taken.has(l.index))] });
  }

  /**
   * Moves every entry to the row its object holds after a statement, so that no entry is applied to another
   * object's text. VACUUM rebuilds sqlite_schema (tables, then indexes, then views and triggers, with no gaps): an
   * object is found again by type and name. ALTER TABLE … RENAME TO renames a table in its row: an entry whose
   * name is gone stays with its row if that still holds an object of its type. An entry whose object was dropped
   * is forgotten (a later object may take its rowid).
   */
  follow(engine: LocalEngine): void {
    if (this.rows.size === 0) return;
    const now = engine.rows('SELECT rowid, type, name FROM sqlite_schema') as [bigint, string, string][];
    const byObject = new Map(now.map(([rowid, type, name]) => [`${type} ${name}`, rowid]));
    const byRowid = new Map(now.map(([rowid, type, name]) => [rowid, { type, name }]));
    const moved = new Map<bigint, Entry>();
    const renamed: [bigint, Entry][] = [];
    for (const [rowid, entry] of this.rows) {
      const found = byObject.get(`${entry.type} ${entry.name}`);
      if (found !== undefined) moved.set(found, entry);
      else if (byRowid.get(rowid)?.type === entry.type) renamed.push([rowid, { ...entry, name: byRowid.get(rowid)!.name }]);
    }
    for (const [rowid, entry] of renamed) if (!moved.has(rowid)) moved.set(rowid, entry);
    this.rows = moved;
  }

  /** An entry's literals, moved to where they are in `tokens` (those that can no longer be found are dropped). */
  private carry(entry: Entry | undefined, tokens: string[]): Literal[] {
    if (!entry) return [];
    const map = alignTokens(entry.tokens, tokens);
    const out: Literal[] = [];
    for (const l of entry.literals) {
      const j = map.get(l.index);
      if (j !== undefined && tokens[j] === l.rewritten) out.push({ ...l, index: j });
    }
    return out;
  }

  /**
   * Forgets the registered literals SQLite has just stored in single quotes itself (ALTER TABLE … RENAME COLUMN or
   * DROP COLUMN): their stored text is now the text to keep. Those `kept` says it leaves alone stay registered.
   */
  clear(kept: (tokens: readonly string[], index: number) => boolean = () => false): void {
    for (const [rowid, entry] of this.rows) {
      const literals = entry.literals.filter((l) => kept(entry.tokens, l.index));
      if (literals.length) this.rows.set(rowid, { ...entry, literals });
      else this.rows.delete(rowid);
    }
  }

  /** Puts the original spellings back into every registered row; returns the names of rows it could not fully restore. */
  restore(engine: LocalEngine): string[] {
    // A statement run outside the replay (the ROLLBACK of a transaction a failed migration left open) may have moved them.
    this.follow(engine);
    const missed: string[] = [];
    for (const [rowid, entry] of this.rows) {
      const row = engine.rows('SELECT name, sql FROM sqlite_schema WHERE rowid = ?', [rowid])[0];
      if (!row || typeof row[1] !== 'string') continue;
      const sql = row[1];
      const { texts, spans } = solidTokens(sql);
      const literals = this.carry(entry, texts);
      if (literals.length < entry.literals.length) missed.push(String(row[0]));
      let out = sql;
      for (const l of [...literals].sort((a, b) => b.index - a.index)) {
        const span = spans[l.index]!;
        out = out.slice(0, span.start) + l.original + out.slice(span.end);
      }
      if (out !== sql) engine.setStoredSql(rowid, out, false);
    }
    this.rows.clear();
    return missed;
  }
}
