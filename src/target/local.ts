/**
 * A `file:` target. An existing file (an empty or freshly migrated database) is loaded in place, in one transaction.
 * A missing target is created under a hidden scratch name beside it and renamed into place once the restore
 * verified: an interrupted or failed restore (even a killed one) never leaves a half-loaded database under the
 * target's name.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, rmSync } from 'node:fs';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type LocalDb, openLocalDb } from '../db/local.js';
import { BackupError } from '../errors.js';
import { fsyncDir } from '../sink/file.js';
import type { Target, TargetFactory } from './types.js';

export function localTargetFactory(path: string): TargetFactory {
  const missing = !existsSync(path);
  let scratch: string | null = null;
  if (missing && !existsSync(dirname(path))) {
    throw new BackupError('NOT_FOUND', `the target's directory ${dirname(path)} does not exist: create it first (a restore creates the database file only)`);
  }
  const prefix = `.${basename(path)}.restore-`;
  const stale = readdirSync(dirname(path)).filter((f) => f.startsWith(prefix) && !/-(wal|shm|journal)$/.test(f));
  return {
    missing,
    // Only a killed process leaves one (any other failure removes it): nothing else uses these names.
    notes: stale.map((f) => `${join(dirname(path), f)} is left from an interrupted restore: remove it (and its -wal/-shm files)`),
    async open({ create }) {
      if (!missing) return localTarget(openTargetDb(path, false), path, null);
      if (!create) throw new BackupError('INTERNAL', 'refusing to create the target in a dry run');
      scratch = join(dirname(path), `${prefix}${randomBytes(4).toString('hex')}`);
      createPrivate(scratch, path);
      return localTarget(openTargetDb(scratch, true, path), path, scratch);
    },
    async discardCreated() {
      if (!scratch) return;
      for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(scratch + suffix, { force: true });
    },
  };
}

/**
 * Creates the scratch file, empty (which SQLite opens as a new database), with mode 0600: the restored database holds
 * what the dump holds, which is kept 0600 too; SQLite gives its -wal and -shm files the database file's mode.
 */
function createPrivate(file: string, target: string): void {
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (e) {
    throw cannotCreate(target, (e as Error).message);
  }
}

/** The one refusal for a target file that cannot be made, whichever step failed (`why`: the system's words). */
const cannotCreate = (target: string, why: string) =>
  new BackupError('REFUSED', `cannot create the target ${target}: ${why} (is ${dirname(target)} writable?)`);

function openTargetDb(file: string, create: boolean, target = file): LocalDb {
  try {
    return openLocalDb(file, { create });
  } catch (e) {
    // The driver's own words, without our "not a readable database" framing.
    const why = ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
    if (create) throw cannotCreate(target, why);
    throw new BackupError('REFUSED', `the target ${target} is not a readable SQLite/libSQL database (${why})`);
  }
}

/** Moves `from` to `to` unless `to` appeared meanwhile (a link fails on an existing name; rename would replace it). */
async function placeNoClobber(from: string, to: string) {
  try {
    await link(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new BackupError('REFUSED', `${to} appeared while the restore ran: refusing to replace it`);
    if (existsSync(to)) throw e;
    await rename(from, to); // a filesystem without hard links
    return;
  }
  // The target is in place; a scratch name left behind would only be a second link to it (and named next time).
  await unlink(from).catch(() => {});
}

/**
 * A scratch file's load is committed: fold its log into the file, leave it in the source's journal mode (a
 * rollback journal, or WAL for a source in WAL mode), and move it into place, durably.
 */
async function publish(db: LocalDb, scratchPath: string, path: string, wal: boolean) {
  // The load ran in WAL mode so a reader could follow it. Closing the last connection of a WAL file checkpoints
  // it and removes its -wal and -shm files (named after the scratch path): only the file itself is moved.
  if (wal) db.handle.pragma('wal_checkpoint(TRUNCATE)');
  else db.handle.pragma('journal_mode = DELETE');
  await db.close();
  const fh = await open(scratchPath, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await placeNoClobber(scratchPath, path);
  await fsyncDir(dirname(path));
}

function localTarget(db: LocalDb, path: string, scratchPath: string | null): Target {
  let wal = false;
  return {
    db,
    displayUrl: `file:${path}`,
    identity: path,
    ...(scratchPath ? { scratch: { path: scratchPath, checkpoint: () => db.checkpoint() } } : {}),
    async beginLoad(opts = {}) {
      wal = opts.journalMode === 'wal';
      if (scratchPath) {
        // Before WAL mode, which writes the file's first page; SQLite ignores a size it does not support.
        const size = opts.pageSize;
        if (size && Number.isInteger(size) && size >= 512 && size <= 65536 && (size & (size - 1)) === 0) db.handle.pragma(`page_size = ${size}`);
        // Like the page size, only before the first table: the source's auto_vacuum mode and text encoding.
        if (opts.autoVacuum === 1 || opts.autoVacuum === 2) db.handle.pragma(`auto_vacuum = ${opts.autoVacuum}`);
        if (opts.encoding === 'UTF-16le' || opts.encoding === 'UTF-16be') db.handle.pragma(`encoding = '${opts.encoding}'`);
        // A reader may follow the load's commits (WAL); a crash discards the file, so nothing needs syncing yet.
        db.handle.pragma('journal_mode = WAL');
        db.handle.pragma('synchronous = OFF');
        // Rows arrive in key order into a fresh file, so a small page cache loses nothing; CREATE INDEX sorts in
        // cache_size of memory, and better-sqlite3's 16 MB default shows as ~20 MB more peak RSS.
        db.handle.pragma('cache_size = -4000');
      }
      await db.beginWrite({ foreignKeys: false });
    },
    async commit() {
      await db.commit();
      if (scratchPath) await publish(db, scratchPath, path, wal);
    },
    rollback: () => db.rollback(),
    close: () => db.close(),
  };
}
