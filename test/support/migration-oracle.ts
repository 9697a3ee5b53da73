/**
 * Regenerates fixtures/migrations/<shape>.expected.json: what a SQLite that accepts double-quoted string literals
 * leaves after `prisma migrate deploy` of each corpus shape. Run it after changing the corpus:
 *
 *   npx tsx test/support/migration-oracle.ts
 *
 * The oracle is the sqlite3 command-line shell (3.40 on the machine this was written on; it must accept DQS —
 * checked below; 3.41+ shells turn DQS off, so use a 3.40 or older shell, or one built with -DSQLITE_DQS=3).
 * It reproduces Prisma's connection: one connection for the whole run, foreign keys on (rusqlite's bundled
 * SQLite defaults them on), `_prisma_migrations` created first, then each migration.sql in Prisma's order. Each
 * script is its own command-line argument, so the shell hands it whole to sqlite3_exec (like rusqlite's
 * execute_batch: a trailing statement without `;` ends with its script, CR bytes are kept). The tests compare
 * against the stored files, so they do not need the shell; tests that build their migrations in a temporary folder
 * import applyWithShell to check their recorded expectation against the shell too, when one is installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PRISMA_MIGRATIONS_DDL, readMigrationsDir } from '../../src/migrate/index.js';
import { CORPUS, corpusShapes, expectedImagePath, readImage } from './migration-corpus.js';

function sqlite3(args: string[]): string {
  const r = spawnSync('sqlite3', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`sqlite3 failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** The version of the sqlite3 shell on the PATH if it accepts double-quoted string literals, or null. */
export function dqsShell(): string | null {
  try {
    return checkShell();
  } catch {
    return null;
  }
}

function checkShell(): string {
  const version = sqlite3(['-version']).trim().split(' ')[0]!;
  const probe = sqlite3([':memory:', 'SELECT "dqs accepted";']).trim();
  if (probe !== 'dqs accepted') throw new Error(`sqlite3 ${version} does not accept double-quoted string literals: it cannot stand in for Prisma's SQLite`);
  return version;
}

/** Applies the migrations folder `dir` with the shell, as Prisma's connection would, to the new database `db`. */
export function applyWithShell(dir: string, db: string): void {
  // A leading newline keeps the shell from reading a script that starts with "--" as an option.
  const scripts = readMigrationsDir(dir).migrations.map((m) => `\n${m.script ?? ''}`);
  sqlite3(['-bail', db, 'PRAGMA foreign_keys=ON;', `${PRISMA_MIGRATIONS_DDL};`, ...scripts]);
}

function main(): void {
  const version = checkShell();
  const work = mkdtempSync(join(tmpdir(), 'tb-oracle-'));
  try {
    for (const shape of corpusShapes()) {
      const db = join(work, `${shape}.db`);
      applyWithShell(join(CORPUS, shape), db);
      const image = readImage(db, { maskNow: true });
      writeFileSync(expectedImagePath(shape), `${JSON.stringify({ oracle: `sqlite3 ${version}`, ...image }, null, 1)}\n`);
      process.stdout.write(`${shape}: ${image.schema.length} schema rows, ${Object.keys(image.tables).length} tables\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// Run as a script (npx tsx test/support/migration-oracle.ts), not when a test imports it.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
