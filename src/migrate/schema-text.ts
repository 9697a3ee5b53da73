/**
 * Keeping stored schema text as a double-quoted-string SQLite would store it.
 *
 * While migrations run on a driver without DQS, an object whose SQL relies on DQS has to be stored in its
 * rewritten form: such a driver re-reads stored SQL when it fires a trigger, uses a view, or runs ALTER TABLE (which
 * re-parses every object of the schema) and would refuse the original. The registry remembers, for each such
 * sqlite_schema row, which tokens are rewritten literals; at the end of the run the original spellings are put
 * back, so sqlite_schema holds the text `prisma migrate deploy` would have left. Tokens are found again by
 * aligning token sequences, because SQLite may have edited the text in between (a RENAME rewrites names, ADD
 * COLUMN inserts one).
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

interface Entry {
  /** The solid tokens of the row's SQL when last registered. */
  tokens: string[];
  /** Literals by their position among those tokens. */
  literals: Literal[];
}

/** The sqlite_schema rows stored in rewritten form during a run, and how to give them their original text back. */
export class SchemaTextRegistry {
  private readonly rows = new Map<bigint, Entry>();

  get size(): number {
    return this.rows.size;
  }

  /**
   * Registers rewritten literals of the row `rowid`, whose stored SQL is now `sql`; `literals` index its solid
   * tokens. Literals registered before for the row are carried over to the new text.
   */
  register(rowid: bigint, sql: string, literals: Literal[]): void {
    const tokens = solidTokens(sql).texts;
    const carried = this.carry(this.rows.get(rowid), tokens);
    const taken = new Set(literals.map((l) => l.index));
    this.rows.set(rowid, { tokens, literals: [...literals, ...carried.filter((l) => !taken.has(l.index))] });
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

  /** Forgets every registered row: their stored text is now the text to keep. */
  clear(): void {
    this.rows.clear();
  }

  /** Puts the original spellings back into every registered row; returns the names of rows it could not fully restore. */
  restore(engine: LocalEngine): string[] {
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
