/**
 * `prisma migrate deploy` for SQLite, against a MigrationDb (prisma-engines:
 * schema-engine/core/src/commands/apply_migrations.rs): refuse a lock file of another provider (P3019), a
 * non-empty database without `_prisma_migrations` (P3005) and any failed migration (P3009); then apply each
 * pending migration in directory order, recording it in `_prisma_migrations` (history.ts), statement by
 * statement in autocommit (sql-text.ts), stopping at the first failure with the migration recorded as failed.
 * Like deploy, an applied migration whose file changed afterwards is not looked at again (the caller warns about
 * it: editedWarning). Stricter than deploy: a pending migration without migration.sql is refused before anything
 * runs (deploy would fail on it mid-run, P3015).
 */
import { setImmediate } from 'node:timers/promises';
import { BackupError } from '../errors.js';
import { extendedCode } from './codes.js';
import { type MigrationDb, StatementError } from './db.js';
import { hasDoubleQuoted } from './dqs.js';
import { DqsReplay } from './dqs-replay.js';
import { checkProvider, type MigrationFile, type MigrationsDir } from './files.js';
import * as history from './history.js';
import { splitStatements, type Statement } from '../sql-text.js';
import { diagnose, type MigrationStatus } from './status.js';

/** `PRAGMA [schema.]journal_mode = …`: a journal mode switch (a remote server keeps its own). */
function isJournalModePragma(text: string): boolean {
  return /^PRAGMA\s+(?:(?:main|"main")\s*\.\s*)?journal_mode\s*=/i.test(text.trim());
}

/** What the directory and the database say, read without writing anything. */
export async function inspect(db: MigrationDb | null, dir: MigrationsDir): Promise<{ status: MigrationStatus; userTables: string[] }> {
  const records = db ? await history.readRecords(db) : null;
  const userTables = db && records === null ? await history.userTables(db) : [];
  return { status: diagnose(dir, records), userTables };
}

const names = (list: string[]) => (list.length > 3 ? `${list.slice(0, 3).join(', ')} and ${list.length - 3} more` : list.join(', '));

/** Throws the refusal `deploy` would give, naming the migration and what to do; returns quietly otherwise. */
export function checkDeployable(dir: MigrationsDir, status: MigrationStatus, userTables: string[]): void {
  checkProvider(dir);
  if (!status.hasMigrationsTable && userTables.length > 0) {
    throw new BackupError(
      'REFUSED',
      `the database has tables (${names(userTables)}) but no _prisma_migrations: it is not managed by Prisma Migrate (Prisma refuses it too, P3005); migrate an empty database, or baseline this one with --mark-applied`,
    );
  }
  const failed = status.failed[0];
  if (failed) {
    throw new BackupError(
      'REFUSED',
      `migration ${failed.name} failed (started ${failed.startedAt}${failed.error ? `: ${failed.error}` : ''}); nothing more is applied until it is resolved: fix the database, then --mark-rolled-back ${failed.name} (or --mark-applied) with --confirm, and run again`,
    );
  }
  const missing = status.missingScript[0];
  if (missing) throw new BackupError('REFUSED', `migration ${missing} has no readable migration.sql in ${dir.dir}: restore the file or remove the directory`);
}

/** Applied migrations whose file changed afterwards: deploy never runs them again and does not compare checksums. */
export const editedApplied = (s: MigrationStatus): string[] => s.changed.filter((n) => s.applied.includes(n));

/**
 * The one warning line for an applied migration whose migration.sql changed afterwards (or is gone): `prisma
 * migrate deploy` does not compare checksums and goes on, and so do we, but the operator should know the database
 * does not hold the file as it now reads.
 */
export function editedWarning(dir: MigrationsDir, name: string): string {
  const gone = dir.migrations.find((m) => m.name === name)?.script === null;
  const what = gone ? 'has no readable migration.sql now' : 'migration.sql changed after it was applied (it no longer matches the recorded checksum)';
  return `migration ${name}: its ${what}; it is not run again (prisma migrate deploy does not re-run applied migrations either): to change the database, add a new migration`;
}

/**
 * What a confirmed run would refuse, in the words it would use, or null: so a status report does not say "run
 * again with --confirm" when that run would refuse.
 */
export function deployRefusal(dir: MigrationsDir, status: MigrationStatus, userTables: string[]): string | null {
  try {
    checkDeployable(dir, status, userTables);
    return null;
  } catch (e) {
    if (e instanceof BackupError && e.code === 'REFUSED') return e.message;
    throw e;
  }
}

/** The column SQLite could not find, as it names it (recent SQLite quotes it and adds a hint, older builds do not). */
const MISSING_COLUMN = /no such column: "?(.+?)"?(?: - should this be a string literal in single-quotes\?| \(at offset \d+\))?$/;

/** One line for a failed statement: the migration, the line in migration.sql, SQLite's words, what to change. */
function failureMessage(name: string, s: Statement, e: StatementError, kind: MigrationDb['kind']): string {
  const said = e.message.replace(/\s+/g, ' ').trim();
  const base = `migration ${name} failed at line ${s.line} of migration.sql: ${said}`;
  const column = MISSING_COLUMN.exec(said)?.[1];
  // A double-quoted word that names no column is a string only where SQLite accepts double-quoted strings.
  if (column === undefined || !hasDoubleQuoted(s.text, column)) return base;
  const where = kind === 'remote' ? 'this server does not accept double-quoted string literals' : 'SQLite could not read it as a column or a string';
  return `${base} (${where}: if "${column}" is a value, write it '${column}', in single quotes, in migration.sql)`;
}

/**
 * What to do after a migration failed, in the same terms as the refusal of the next run (checkDeployable): the
 * statements before the failing one stay applied, so the database must be made to match one of the two resolutions.
 */
const wayForward = (name: string) =>
  `to go on: fix migration.sql (and undo what ran of it), then --mark-rolled-back ${name} --confirm and run again; --status shows where it stands`;

async function runStatement(db: MigrationDb, replay: DqsReplay | null, s: Statement, notes: string[]): Promise<void> {
  if (db.kind === 'remote' && isJournalModePragma(s.text)) {
    notes.push('PRAGMA journal_mode in a migration was left out: the server chooses its journal mode');
    return;
  }
  if (replay) replay.run(s.text);
  else await db.exec(s.text);
}

/**
 * Rolls back a transaction the migration opened and did not close. Its history row was written before, in
 * autocommit; what is written next (the failure logs) must not join that transaction, or closing the connection
 * would roll it back with the migration's own statements and leave a failed row without logs.
 */
async function rollBackOpenTransaction(db: MigrationDb): Promise<boolean> {
  if (!(await db.inTransaction())) return false;
  await db.exec('ROLLBACK');
  return true;
}

async function applyOne(db: MigrationDb, replay: DqsReplay | null, m: MigrationFile, notes: string[]): Promise<void> {
  const id = await history.recordStarted(db, m.name, m.checksum);
  for (const s of splitStatements(runnableText(m, notes))) {
    try {
      await runStatement(db, replay, s, notes);
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      const rolledBack = await rollBackOpenTransaction(db);
      await history.recordFailed(db, id, history.prismaFailureLogs(m.name, extendedCode(e.code), e.message));
      const undone = rolledBack ? '; the transaction it had opened (BEGIN) was rolled back' : '';
      throw new BackupError('SCHEMA', `${failureMessage(m.name, s, e, db.kind)}${undone}; ${wayForward(m.name)}`, { cause: e });
    }
  }
  // A script that ends inside its own BEGIN would have its statements, and the success recorded after them,
  // rolled back when the connection closes: a migration reported applied that left nothing behind.
  if (await rollBackOpenTransaction(db)) {
    await history.recordFailed(db, id, history.prismaFailureLogs(m.name, 'none', OPEN_TRANSACTION));
    throw new BackupError(
      'SCHEMA',
      `migration ${m.name} left a transaction open (BEGIN without COMMIT): what it ran after BEGIN was rolled back and it is recorded as failed; end migration.sql with COMMIT (or remove the BEGIN), then --mark-rolled-back ${m.name} --confirm and run again`,
    );
  }
  await history.recordSucceeded(db, id);
}

/**
 * The script as SQLite reads it: a C string, so nothing after a NUL byte. Prisma hands the text to rusqlite's
 * execute_batch, whose loop ends there; the statements after it never run, and the note says so.
 */
function runnableText(m: MigrationFile, notes: string[]): string {
  const script = m.script!;
  const nul = script.indexOf('\u0000');
  if (nul < 0) return script;
  const line = script.slice(0, nul).split('\n').length;
  if (script.slice(nul + 1).trim() !== '')
    notes.push(`migration ${m.name}: migration.sql holds a NUL byte at line ${line}; what follows it was not run (SQLite and Prisma stop reading there)`);
  return script.slice(0, nul);
}

/** The error recorded in the history's logs for a migration that left its transaction open. */
const OPEN_TRANSACTION = 'the migration left a transaction open (BEGIN without COMMIT); it was rolled back';

/** Puts the original text back into rewritten schema objects; never hides the error that ended the run. */
function restoreSchemaText(replay: DqsReplay, notes: string[]): void {
  try {
    for (const n of replay.finish()) notes.push(`the stored SQL of ${n} keeps single-quoted literals where the migration had double quotes (same meaning)`);
  } catch (e) {
    notes.push(`the stored SQL of objects written with double-quoted literals could not be restored: ${(e as Error).message}`);
  }
}

/**
 * Lets the event loop run its signal and timer callbacks. Two immediates: one called back in the check phase of
 * this iteration would not pass the poll phase, where Node delivers a signal.
 */
async function eventLoopTurn(): Promise<void> {
  await setImmediate();
  await setImmediate();
}

/** SQLITE_BUSY / SQLITE_LOCKED (and their extended codes): another connection holds the write lock. */
const isLocked = (e: unknown): boolean => e instanceof StatementError && /^SQLITE_(BUSY|LOCKED)/.test(e.code);

/**
 * A write of the run itself (the history table, a migration's row) that waited out the busy timeout: another
 * connection is writing. Nothing of the migration under way ran (its row is the first thing written).
 */
function lockedError(db: MigrationDb, applied: string[], e: StatementError): BackupError {
  const done = applied.length ? `applied so far: ${applied.join(', ')}; the rest are still pending` : 'nothing was applied';
  return new BackupError(
    'REFUSED',
    `${db.displayUrl} is locked by another connection that is writing to it (waited 10 s): ${done}; run again when that connection is done`,
    { cause: e },
  );
}

/**
 * The one interrupt of a migrate run (deployMigrations before it starts, applyPending between migrations): it
 * names what this run applied, and is only thrown while something is still pending.
 */
export const interruptedError = (applied: string[]) =>
  new BackupError(
    'INTERRUPTED',
    `interrupted${applied.length ? ` after applying ${applied.join(', ')}` : ' before any migration was applied'}; the rest are still pending`,
  );

/**
 * Applies the pending migrations in order; the first failure stops the run (the statements before it in that
 * migration stay applied, as with Prisma) and is thrown. On a `file:` target, SQL that relies on double-quoted
 * string literals is replayed (dqs-replay.ts) and the stored schema text ends as Prisma's SQLite leaves it.
 * An aborted `signal` stops the run after the migration under way (throws BackupError INTERRUPTED), unless that
 * was the last one: then nothing is left to stop, and the run ends as a complete one.
 */
export async function applyPending(
  db: MigrationDb,
  dir: MigrationsDir,
  pending: string[],
  opts: { notes: string[]; onApplied?: (name: string) => void; signal?: AbortSignal },
): Promise<string[]> {
  const applied: string[] = [];
  try {
    await applyInOrder(db, dir, pending, applied, opts);
  } catch (e) {
    throw isLocked(e) ? lockedError(db, applied, e as StatementError) : e;
  }
  return applied;
}

async function applyInOrder(
  db: MigrationDb,
  dir: MigrationsDir,
  pending: string[],
  applied: string[],
  opts: { notes: string[]; onApplied?: (name: string) => void; signal?: AbortSignal },
): Promise<void> {
  if (!(await history.hasMigrationsTable(db))) await history.createMigrationsTable(db);
  const replay = db.local ? new DqsReplay(db.local) : null;
  try {
    for (const [i, name] of pending.entries()) {
      await applyOne(db, replay, dir.migrations.find((m) => m.name === name)!, opts.notes);
      applied.push(name);
      // Before the next migration, the one place a stop leaves the history as deploy would. A `file:` run is
      // synchronous, so a SIGINT handler (which aborts the signal) only runs if the event loop gets a turn here.
      // After the last one there is nothing left to stop: an interrupt then ends nothing, the run is complete.
      const more = i < pending.length - 1;
      if (more) await eventLoopTurn();
      opts.onApplied?.(name);
      if (more && opts.signal?.aborted) throw interruptedError(applied);
    }
  } finally {
    if (replay) restoreSchemaText(replay, opts.notes);
  }
}
