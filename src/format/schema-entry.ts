/**
 * A dump's schema entries are SQL that a restore runs on its target. Checksums prove only that the dump was not
 * changed after it was written, not who wrote it: a dump fetched from storage may have been made by anyone. Each
 * entry must therefore be what SQLite stores in sqlite_schema and nothing more: one CREATE statement of the entry's
 * own type. Anything else (a second statement such as `ATTACH`, a `DROP`, an `INSERT`) is refused before a restore
 * runs any of it, and `verify-backup` refuses it too.
 */
import { BackupError } from '../errors.js';
import { splitStatements, tokenize } from '../sql-text.js';
import type { HeaderLine } from './lines.js';

/** The keywords after CREATE that make each type of object, as SQLite's grammar has them. */
const CREATES: Record<string, RegExp> = {
  table: /^create (temp |temporary )?(virtual )?table /,
  index: /^create (unique )?index /,
  view: /^create (temp |temporary )?view /,
  trigger: /^create (temp |temporary )?trigger /,
};

/** The first words of a statement, lower case, one space apart (comments and quoted text end the run). */
function leadingWords(sql: string, count: number): string {
  const words: string[] = [];
  for (const t of tokenize(sql)) {
    if (t.kind === 'space' || t.kind === 'comment') continue;
    if (t.kind !== 'word' || words.length === count) break;
    words.push(sql.slice(t.start, t.end).toLowerCase());
  }
  return `${words.join(' ')} `;
}

/** Refuses (CORRUPT) a schema entry that is not exactly one CREATE statement of its own type. */
export function checkSchemaEntry(o: HeaderLine['schema'][number]): void {
  const pattern = typeof o?.type === 'string' ? CREATES[o.type] : undefined;
  const name = typeof o?.name === 'string' ? `"${o.name}"` : 'without a name';
  if (!pattern || typeof o.sql !== 'string')
    throw new BackupError('CORRUPT', `the dump's schema has an entry ${name} that is not a table, index, view or trigger`);
  const statements = splitStatements(o.sql);
  if (statements.length !== 1 || !pattern.test(leadingWords(o.sql, 4))) {
    throw new BackupError('CORRUPT', `the dump's schema entry for ${o.type} ${name} is not one CREATE ${o.type.toUpperCase()} statement: refusing to run it`);
  }
}
