/**
 * The migrations directory as Prisma reads it (prisma/prisma: packages/migrate/src/utils/listMigrations.ts, and the
 * lock file check in prisma-engines: schema-engine/connectors/schema-connector/src/migrations_directory.rs):
 * every sub-directory is a migration, named by the directory, sorted with `localeCompare`; its script is
 * `migration.sql` read as UTF-8; `migration_lock.toml`, when present, names the provider and must say `sqlite`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BackupError } from '../errors.js';
import { scriptChecksum } from './checksum.js';

export interface MigrationFile {
  name: string;
  /** The script, or null when the directory has no readable migration.sql. */
  script: string | null;
  /** Prisma's checksum of the script (empty when there is none). */
  checksum: string;
}

export interface MigrationsDir {
  dir: string;
  /** The provider named by migration_lock.toml, null without a lock file. */
  provider: string | null;
  /** The lock file starts with a byte order mark before its provider line (checkProvider). */
  lockBom?: boolean;
  migrations: MigrationFile[];
}

/** Prisma's reading of the lock file: the first line starting with `provider`, quotes trimmed. */
export function lockProvider(content: string): string {
  const line = content.split(/\r?\n/).find((l) => l.startsWith('provider'));
  if (line === undefined) return '<PROVIDER NOT FOUND>';
  return line.replace(/^(provider = )+/, '').replace(/^"+|"+$/g, '');
}

function readScript(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

const subdirectories = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);

/** Whether `dir` looks like a migrations folder itself: a lock file, or a sub-directory with migration.sql. */
function holdsMigrations(dir: string): boolean {
  try {
    return existsSync(join(dir, 'migration_lock.toml')) || subdirectories(dir).some((n) => existsSync(join(dir, n, 'migration.sql')));
  } catch {
    return false;
  }
}

/**
 * Refuses a `dir` one level off, before its reading is taken at its word: one level too high (`prisma/`), its
 * `migrations/` would be read as a migration without migration.sql, and the way forward given for that (remove
 * the directory) would delete the history; one level too low (a single migration), nothing would be pending and
 * a confirmed run would create an empty history.
 */
function checkLevel(dir: string, migrations: MigrationFile[]): void {
  // A loose migration.sql beside migration folders is not one: Prisma lists folders only, and so does this.
  if (existsSync(join(dir, 'migration.sql')) && !migrations.some((m) => m.script !== null)) {
    throw new BackupError(
      'USAGE',
      `${dir} is a single migration (it holds migration.sql), not the folder of migrations: give the folder that holds it, --dir ${dirname(dir)}`,
    );
  }
  const inner = migrations.find((m) => m.script === null && holdsMigrations(join(dir, m.name)));
  if (inner) {
    const path = join(dir, inner.name);
    throw new BackupError('USAGE', `${dir} is not the folder of migrations: ${path} holds the migrations; run with --dir ${path}`);
  }
}

/** A lock file whose provider line Prisma does not see: it follows a byte order mark (a Windows editor's). */
const HIDDEN_BY_BOM = /^\uFEFFprovider/;

/** Reads the migrations directory; a missing directory is an error (there is nothing to apply or compare). */
export function readMigrationsDir(dir: string): MigrationsDir {
  // The invocation's slip, like a --dir one level off (USAGE, exit 2): the folder is named where it is read.
  if (!existsSync(dir))
    throw new BackupError('USAGE', `migrations directory ${dir} does not exist (--dir names the folder holding the migrations, default prisma/migrations)`);
  if (!statSync(dir).isDirectory()) throw new BackupError('USAGE', `--dir ${dir} is a file, not the folder of migrations`);
  const lock = readScript(join(dir, 'migration_lock.toml'));
  const names = subdirectories(dir).sort((a, b) => a.localeCompare(b));
  const migrations = names.map((name) => {
    const script = readScript(join(dir, name, 'migration.sql'));
    return { name, script, checksum: script === null ? '' : scriptChecksum(script) };
  });
  checkLevel(dir, migrations);
  return { dir, provider: lock === null ? null : lockProvider(lock), lockBom: lock !== null && HIDDEN_BY_BOM.test(lock), migrations };
}

/**
 * Prisma's P3019: migrations written for another provider are refused, and so is a lock file naming none. One saved
 * with a byte order mark names none for Prisma too (its first line then does not start with `provider`): refused as
 * `prisma migrate deploy` refuses it, with the fix named.
 */
export function checkProvider(m: MigrationsDir): void {
  if (m.provider === null || m.provider === 'sqlite') return;
  const lock = join(m.dir, 'migration_lock.toml');
  if (m.lockBom) {
    throw new BackupError(
      'REFUSED',
      `${lock} starts with a byte order mark (as a Windows editor saves UTF-8), so its provider line is not read: prisma migrate deploy refuses these migrations the same way (P3019); save the file as UTF-8 without a BOM`,
    );
  }
  throw new BackupError(
    'REFUSED',
    `${lock} says provider "${m.provider}", not "sqlite": these migrations were generated for another database and do not apply to SQLite; generate a SQLite migration history (provider = "sqlite" in the datasource of schema.prisma, then prisma migrate dev) and give its folder`,
  );
}
