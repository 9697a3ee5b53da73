/**
 * A `file:` target. An existing file (an empty or freshly migrated database) is loaded in place, in one transaction.
 * A missing target is created under a hidden scratch name beside it and renamed into place once the restore
 * verified: an interrupted or failed restore (even a killed one) never leaves a half-loaded database under the
 * target's name.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, lstatSync, openSync, readdirSync, readlinkSync, rmSync, type Stats, statSync } from 'node:fs';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { type LocalDb, openLocalDb } from '../db/local.js';
import { BackupError } from '../errors.js';
import { fsyncDir } from '../sink/file.js';
import { EarlySync } from './early-sync.js';
import type { ScratchFile, Target, TargetFactory } from './types.js';

/** The factory of a `file:` target at `path`; what is there is looked at now, and refused now when it cannot be one. */
export function localTargetFactory(path: string): TargetFactory {
  const missing = !targetExists(path);
  let scratch: string | null = null;
  const prefix = `.${basename(path)}.restore-`;
  const stale = listable(dirname(path)).filter((f) => f.startsWith(prefix) && !/-(wal|shm|journal)$/.test(f));
  return {
    missing,
    displayUrl: `file:${path}`,
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

/** `stat` of `p` following links, or the error code that stopped it. */
function statOrCode(p: string): Stats | string {
  try {
    return statSync(p);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

/**
 * True when the target is there (loaded in place), false when the restore may create it. Refused here, before the
 * dump is read: a path the user cannot reach, a symbolic link to a missing file (publishing the new file would find
 * the link's name taken only at the end), and a parent directory that is missing or is a file.
 */
function targetExists(path: string): boolean {
  const st = statOrCode(path);
  if (typeof st !== 'string') return true;
  if (st === 'EACCES' || st === 'EPERM') {
    throw new BackupError('REFUSED', `cannot reach the target ${path}: permission denied (a directory on its path cannot be entered)`);
  }
  if (st === 'ENOENT' && lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) {
    const to = resolve(dirname(path), readlinkSync(path));
    throw new BackupError('REFUSED', `the target ${path} is a symbolic link to a missing file (${to}): give the real path as --target`);
  }
  parentDirectory(path);
  return false;
}

/** Refuses a target whose directory is missing, or is a file (a slip like `app.db/restored.db`): named, in one line. */
function parentDirectory(path: string): void {
  const dir = dirname(path);
  // Up from the target's directory to the first thing that exists: a file there is the name to give.
  for (let d = dir; ; d = dirname(d)) {
    const st = statOrCode(d);
    if (typeof st === 'string') {
      if ((st === 'ENOENT' || st === 'ENOTDIR') && d !== dirname(d)) continue;
      break;
    }
    if (!st.isDirectory()) {
      throw new BackupError('REFUSED', `${d} is not a directory: the target ${path} cannot be created under it (give a path in a directory)`);
    }
    if (d === dir) {
      writableDirectory(dir, path);
      return;
    }
    break; // a directory further up: the target's own is missing
  }
  throw new BackupError('NOT_FOUND', `the target's directory ${dir} does not exist: create it first (a restore creates the database file only)`);
}

/**
 * The new file (and its scratch file beside it) are created in `dir`: one the user cannot write is refused now, so
 * that a dry run says what --confirm would meet, before the dump is read.
 */
function writableDirectory(dir: string, path: string): void {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new BackupError('REFUSED', `cannot create the target ${path}: ${dir} is not writable by this user`);
  }
}

/**
 * The names in `dir`, or none when it cannot be listed: only the notes about stale scratch files need them, and a
 * directory the user may write but not list (mode 733) still takes a restore.
 */
function listable(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
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
    // Refusals that already say what to do (another writer holds the file: try again later) stay as they are.
    if (e instanceof BackupError && e.code === 'REFUSED') throw e;
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
async function publish(db: LocalDb, scratchPath: string, path: string, wal: boolean, early: EarlySync) {
  // The load ended in WAL mode when a reader followed it (its indexes), else with its journal in memory: the file
  // takes the source's mode. Closing the last connection of a WAL file checkpoints it and removes its -wal and -shm
  // files (named after the scratch path): only the file itself is moved.
  if (wal && db.handle.pragma('journal_mode', { simple: true }) === 'wal') db.handle.pragma('wal_checkpoint(TRUNCATE)');
  else db.handle.pragma(`journal_mode = ${wal ? 'WAL' : 'DELETE'}`);
  await db.close();
  await early.done(); // its failure is the publish's: the file may not be on disk
  const fh = await open(scratchPath, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await placeNoClobber(scratchPath, path);
  await fsyncDir(dirname(path)).catch((e: NodeJS.ErrnoException) => {
    // Syncing a directory means opening it for reading: one the user may write but not list (mode 733) cannot be.
    // The new name is in place (the link succeeded) and the file itself is synced: only durability is the system's.
    if (e.code !== 'EACCES' && e.code !== 'EPERM') throw e;
  });
}

/** Dirty pages a followed load keeps before spilling: a spill would lock its reader out until the commit. */
const FOLLOWED_SPILL_BYTES = 16 * 1024 * 1024;

/**
 * The scratch file's side of a reader following the load. With a rollback journal, a reader sees each commit whole:
 * a writer that spills its pages into the file mid-transaction holds the file's exclusive lock until it commits. So
 * while rows load (small transactions), dirty pages stay in memory up to FOLLOWED_SPILL_BYTES; the indexes after
 * them are built in one transaction of any size, in WAL mode, where neither side locks the other out.
 */
function scratchFile(db: LocalDb, path: string, early: EarlySync): ScratchFile {
  const pages = () => Math.ceil(FOLLOWED_SPILL_BYTES / (db.handle.pragma('page_size', { simple: true }) as number));
  return {
    path,
    async checkpoint() {
      await db.checkpoint();
      early.committed();
    },
    async follow() {
      db.handle.pragma(`cache_spill = ${pages()}`);
    },
    async rowsLoaded() {
      await db.checkpoint(async () => {
        db.handle.pragma('journal_mode = WAL');
        db.handle.pragma('cache_spill = ON');
      });
      // The rows' pages are all in the file now (what follows goes to the WAL until the publish): the disk writes
      // the last of them while the indexes are built and the reader finishes.
      early.rowsLoaded();
    },
  };
}

function localTarget(db: LocalDb, path: string, scratchPath: string | null): Target {
  let wal = false;
  const early = scratchPath ? new EarlySync(scratchPath) : null;
  return {
    db,
    displayUrl: `file:${path}`,
    identity: path,
    ...(scratchPath && early ? { scratch: scratchFile(db, scratchPath, early) } : {}),
    async beginLoad(opts = {}) {
      wal = opts.journalMode === 'wal';
      if (scratchPath) {
        // Before WAL mode, which writes the file's first page; SQLite ignores a size it does not support.
        const size = opts.pageSize;
        if (size && Number.isInteger(size) && size >= 512 && size <= 65536 && (size & (size - 1)) === 0) db.handle.pragma(`page_size = ${size}`);
        // Like the page size, only before the first table: the source's auto_vacuum mode and text encoding.
        if (opts.autoVacuum === 1 || opts.autoVacuum === 2) db.handle.pragma(`auto_vacuum = ${opts.autoVacuum}`);
        if (opts.encoding === 'UTF-16le' || opts.encoding === 'UTF-16be') db.handle.pragma(`encoding = '${opts.encoding}'`);
        // A rollback journal in memory: rows are written once (a WAL writes them twice, to the log and then to the
        // file), and a fresh file's appended pages are not journaled at all. A crash discards the file, so nothing
        // needs syncing yet; a failure still rolls back.
        db.handle.pragma('journal_mode = MEMORY');
        db.handle.pragma('synchronous = OFF');
        // Rows arrive in key order into a fresh file, so a small page cache loses nothing; CREATE INDEX sorts in
        // cache_size of memory, and better-sqlite3's 16 MB default shows as ~20 MB more peak RSS.
        db.handle.pragma('cache_size = -4000');
      }
      await db.beginWrite({ foreignKeys: false, checkConstraints: false });
    },
    async commit() {
      await db.commit();
      if (scratchPath && early) await publish(db, scratchPath, path, wal, early);
    },
    rollback: () => db.rollback(),
    async close() {
      await db.close();
      if (!scratchPath) await rollBackHotJournal(path);
    },
  };
}

/**
 * A write that failed with an I/O error (EFBIG past a file size limit, EIO) leaves SQLite's pager in its error
 * state: the connection closes without playing its journal back, and the journal stays hot beside a grown file.
 * The next connection to read the file rolls it back; one does so here, so that "the target is as it was" holds
 * when the restore says it. A journal the target keeps by its journal mode (PERSIST) is read and left alone.
 */
async function rollBackHotJournal(path: string): Promise<void> {
  if (!existsSync(`${path}-journal`)) return;
  const db = openLocalDb(path, {});
  try {
    await db.query('SELECT count(*) FROM sqlite_schema');
  } finally {
    await db.close();
  }
}
