/**
 * The restore Target contract (src/target/*), driven through the library's `restore()` with real dump files as
 * input, and run against every backend: a new `file:` database (loaded into a scratch file, then renamed), an
 * existing empty file, an existing migrated file (the schema as migrations leave it, no rows), and a remote
 * database over HTTP (the stand-in sqld, driven by the real @libsql/client). Every backend must:
 *
 * - hold exactly what was dumped after a restore (cell by cell: storage class, exact bytes, REAL bits, rowids,
 *   sqlite_sequence, schema), and the dump's pragmas where the backend can take them (its descriptor says which);
 * - load rows and batches larger than one insert batch or one HTTP request (a row alone bigger than a request);
 * - roll back a load that fails mid-way, leaving the target as it was found: a new file leaves no file and no
 *   scratch file, an existing file is byte-for-byte as before, a remote database holds the same rows and schema.
 *   Two faithful failures: rows the target's constraints refuse (a NOT NULL the source had never enforced), and a dump file
 *   that is damaged between the verifying pass and the loading pass;
 * - stop on an abort (AbortSignal) mid-load with INTERRUPTED, with the same rollback guarantees.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { remoteTuning } from '../../src/db/hrana/config.js';
import { jsonValueBytes } from '../../src/db/hrana/exact.js';
import { BackupError } from '../../src/errors.js';
import { restore, type RestoreOptions, type RestoreResult } from '../../src/restore/restore.js';
import { fileSink } from '../../src/sink/file.js';
import { localTargetFactory } from '../../src/target/local.js';
import { remoteTargetFactory } from '../../src/target/remote.js';
import type { TargetFactory } from '../../src/target/types.js';
import { listDir, rejection, tempDirs } from '../support/dumps.js';
import { ENCODINGS, encodingLabel, startHranaServer } from '../support/hrana-server.js';
import { buildNastyDb, diffDumps, dumpDb, prngBytes, replaySchema, type DbDump } from '../support/nasty-db.js';

const dirs = tempDirs('tb-contract-target-');
const TOKEN = 'contract-target-token';

interface PreparedTarget {
  /** The factory for one restore (a file target looks at the disk when it is made, so one per restore). */
  factory(): TargetFactory;
  /** What the target holds, in a form to compare before and after a failed restore. */
  fingerprint(): unknown;
  /** The target database's content, cell by cell. */
  content(): DbDump;
  /** The target's own pragmas now (a file not created yet has a new database's: zero). */
  pragmas(): DbDump['pragmas'];
  close(): Promise<void>;
}

interface TargetBackend {
  name: string;
  /**
   * Which of the dump's pragmas the target ends with. A migrated target keeps its own (the migration tool owns
   * user_version); sqld refuses PRAGMA application_id over HTTP, so a remote target keeps its own application_id.
   */
  takesPragmas: { userVersion: boolean; applicationId: boolean };
  /** A target in a fresh directory, shaped to receive a dump of the database at `source`. */
  prepare(source: string): Promise<PreparedTarget>;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A new database file with no tables (as an application or `sqlite3 x.db VACUUM` leaves it). */
function emptyFile(path: string): void {
  const db = new Database(path);
  db.exec('VACUUM');
  db.close();
}

/** The schema of `source` on a new file, as migrations leave it: no rows but the migration history. */
function migratedFile(source: string, path: string): void {
  replaySchema(source, path);
  const db = new Database(path);
  try {
    db.prepare('ATTACH ? AS src').run(source);
    const has = db.prepare("SELECT 1 FROM src.sqlite_schema WHERE name = '_prisma_migrations'").get();
    if (has) db.exec('INSERT INTO main."_prisma_migrations" SELECT * FROM src."_prisma_migrations"');
    db.exec('DETACH src');
  } finally {
    db.close();
  }
}

/** A local file target at `path`: whatever is in its directory and the file's bytes make its fingerprint. */
function fileTarget(path: string): PreparedTarget {
  return {
    factory: () => localTargetFactory(path),
    fingerprint: () => ({ files: listDir(dirname(path)), bytes: existsSync(path) ? sha256(readFileSync(path)) : null }),
    content: () => dumpDb(path),
    pragmas: () => (existsSync(path) ? dumpDb(path).pragmas : { userVersion: 0, applicationId: 0 }),
    close: async () => {},
  };
}

const BACKENDS: TargetBackend[] = [
  {
    name: 'new file (scratch file, then renamed)',
    takesPragmas: { userVersion: true, applicationId: true },
    async prepare() {
      return fileTarget(join(dirs.make(), 'new.db'));
    },
  },
  {
    name: 'existing empty file',
    takesPragmas: { userVersion: true, applicationId: true },
    async prepare() {
      const path = join(dirs.make(), 'empty.db');
      emptyFile(path);
      return fileTarget(path);
    },
  },
  {
    name: 'existing migrated file',
    takesPragmas: { userVersion: false, applicationId: false },
    async prepare(source) {
      const path = join(dirs.make(), 'migrated.db');
      migratedFile(source, path);
      return fileTarget(path);
    },
  },
  ...ENCODINGS.map(
    (encoding): TargetBackend => ({
      name: `remote, empty (stand-in sqld over HTTP, ${encodingLabel(encoding)})`,
      takesPragmas: { userVersion: true, applicationId: false },
      async prepare() {
        const path = join(dirs.make(), 'remote.db');
        const server = await startHranaServer({ db: path, token: TOKEN, encodings: [encoding] });
        return {
          factory: () => remoteTargetFactory(server.url, TOKEN),
          // The server holds the file open: what it serves (rows, schema, pragmas) is the fingerprint.
          fingerprint: () => dumpDb(path),
          content: () => dumpDb(path),
          pragmas: () => dumpDb(path).pragmas,
          close: () => server.close(),
        };
      },
    }),
  ),
];

/** Sources and their dumps, made once. */
let nasty: string;
let nastyDump: string;
let large: string;
let largeDump: string;
let checked: string;
let checkedDump: string;

/** A BLOB whose estimated JSON (base64) is over the remote load's request budget (1.5 MiB) on its own. */
const BIG_ROW = 1.2 * 1024 * 1024;
const MANY_ROWS = 6000;

/**
 * Rows bigger than one insert batch together (7 × 400 kB and the big row: ~5.3 MB as dump lines, over a batch's
 * 4 MiB), one BLOB alone over an HTTP request's budget, a long non-ASCII TEXT, and more small rows than a batch
 * (2048) or a remote INSERT statement (512) holds.
 */
function buildLargeDb(path: string): void {
  const db = new Database(path);
  try {
    db.exec('CREATE TABLE big (id INTEGER PRIMARY KEY, data BLOB, note TEXT); CREATE TABLE many (k TEXT PRIMARY KEY, v REAL) WITHOUT ROWID');
    const big = db.prepare('INSERT INTO big (id, data, note) VALUES (?, ?, ?)');
    for (let i = 1; i <= 7; i++) big.run(BigInt(i), prngBytes(400 * 1024, i), `row ${i}`);
    big.run(100n, prngBytes(BIG_ROW, 100), 'one row larger than a request');
    big.run(101n, null, 'é'.repeat(400_000));
    const many = db.prepare('INSERT INTO many (k, v) VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 0; i < MANY_ROWS; i++) many.run(`k${String(i).padStart(6, '0')}`, i / 7);
    })();
  } finally {
    db.close();
  }
}

/**
 * A table whose NOT NULL the source never enforced (edited into the schema after a NULL was written, as a hand-made
 * "migration" through writable_schema does): a real SQLite database that backs up fine, but whose rows every target
 * refuses, after thousands loaded. (Rows its CHECKs refuse do not serve: a local load does not enforce CHECKs.)
 */
function buildCheckedDb(path: string): void {
  const db = new Database(path);
  try {
    db.exec('CREATE TABLE a_first (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER, pad TEXT)');
    db.prepare("WITH RECURSIVE x(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM x WHERE i < 3000) INSERT INTO a_first SELECT i, 'first ' || i FROM x").run();
    db.prepare('WITH RECURSIVE x(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM x WHERE i < 10000) INSERT INTO c SELECT i, i, hex(randomblob(50)) FROM x').run();
    db.exec('UPDATE c SET n = NULL WHERE id = 9000');
    db.unsafeMode(true); // writable_schema needs SQLite's defensive mode off
    db.pragma('writable_schema = ON');
    db.prepare("UPDATE sqlite_schema SET sql = replace(sql, 'n INTEGER', 'n INTEGER NOT NULL') WHERE name = 'c'").run();
  } finally {
    db.close();
  }
}

async function dumpOf(path: string, opts: { blockBytes?: number } = {}): Promise<string> {
  const out = join(dirs.make(), `${basename(path)}.ndjson.gz`);
  await backup({ url: `file:${path}`, gzip: opts.blockBytes ? { blockBytes: opts.blockBytes } : undefined }, fileSink(out));
  return out;
}

beforeAll(async () => {
  const dir = dirs.make();
  nasty = join(dir, 'nasty.db');
  // Small: the large values have a test of their own below.
  buildNastyDb(nasty, { eventRows: 2000, small: true });
  large = join(dir, 'large.db');
  buildLargeDb(large);
  checked = join(dir, 'checked.db');
  buildCheckedDb(checked);
  nastyDump = await dumpOf(nasty);
  largeDump = await dumpOf(large);
  // Small gzip members: a damage late in the file is met by the loading pass only after many rows went in.
  checkedDump = await dumpOf(checked, { blockBytes: 64 * 1024 });
});
afterAll(() => dirs.cleanup());

/** A confirmed restore of the dump file at `dump` into the prepared target. */
function restoreInto(t: PreparedTarget, dump: string, opts: Partial<RestoreOptions> = {}): Promise<RestoreResult> {
  return restore({ openInput: async () => createReadStream(dump), target: t.factory(), confirm: true, ...opts });
}

/** A copy of `dump` whose file is damaged (bytes three quarters in overwritten) when it is opened the `nth` time. */
function damagedOnOpen(dump: string, nth: number): () => Promise<Readable> {
  const copy = join(dirs.make(), 'changing.ndjson.gz');
  copyFileSync(dump, copy);
  let opened = 0;
  return async () => {
    if (++opened === nth) {
      const bytes = readFileSync(copy);
      const at = Math.floor(bytes.length * 0.75);
      bytes.fill(0x55, at, at + 256);
      writeFileSync(copy, bytes);
    }
    return createReadStream(copy);
  };
}

/** Runs `run` on a prepared target, and asserts it fails with `code` after rows were written, leaving the target as found. */
async function failsAndRollsBack(t: PreparedTarget, code: string, run: (onProgress: RestoreOptions['onProgress']) => Promise<unknown>): Promise<BackupError> {
  const before = t.fingerprint();
  let written = 0;
  const e = await rejection(run((p) => (written = Math.max(written, p.rows))));
  expect(e, e.message).toBeInstanceOf(BackupError);
  expect(e.code, e.message).toBe(code);
  // Rows had gone into the target's transaction: the failure came mid-load, not before it.
  expect(written).toBeGreaterThan(0);
  expect(t.fingerprint()).toEqual(before);
  return e as BackupError;
}

describe.each(BACKENDS)('Target contract: $name', (backend) => {
  it('holds exactly what was dumped: every storage class, REAL bits, rowids, sequences, schema', async () => {
    const t = await backend.prepare(nasty);
    const before = t.pragmas();
    try {
      const r = await restoreInto(t, nastyDump);
      expect(r.verified).toBe(true);
      expect(r.foreignKeyViolations).toEqual({});
      const source = dumpDb(nasty);
      const restored = t.content();
      expect(diffDumps(source, restored, { pragmas: false })).toEqual([]);
      // Each pragma is the dump's where the backend takes it, else the target's own, untouched.
      const { userVersion, applicationId } = backend.takesPragmas;
      expect(restored.pragmas).toEqual({
        userVersion: userVersion ? source.pragmas.userVersion : before.userVersion,
        applicationId: applicationId ? source.pragmas.applicationId : before.applicationId,
      });
    } finally {
      await t.close();
    }
  });

  it('loads rows and batches larger than an insert batch or an HTTP request, exactly', async () => {
    // What makes the big row large: alone, it is over a request's budget as the remote load estimates it.
    expect(jsonValueBytes(Buffer.alloc(BIG_ROW))).toBeGreaterThan(remoteTuning.requestBytes);
    const t = await backend.prepare(large);
    try {
      const r = await restoreInto(t, largeDump);
      expect(r.tables).toEqual({ big: 9, many: MANY_ROWS });
      expect(diffDumps(dumpDb(large), t.content())).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('rows the target refuses mid-load (a NOT NULL): rolled back with CONSTRAINT, the target as it was found', async () => {
    const t = await backend.prepare(checked);
    try {
      const e = await failsAndRollsBack(t, 'CONSTRAINT', (onProgress) => restoreInto(t, checkedDump, { onProgress }));
      expect(e.message).toMatch(/table "c": .*NOT NULL.*rolled back/);
    } finally {
      await t.close();
    }
  });

  it('a dump damaged between the verifying and the loading pass: rolled back with CORRUPT, the target as it was found', async () => {
    const t = await backend.prepare(checked);
    try {
      // Opened once to tell its kind, once to verify (pass 1): the damage is there when the load (pass 2) reads it.
      const openInput = damagedOnOpen(checkedDump, 3);
      await failsAndRollsBack(t, 'CORRUPT', (onProgress) => restore({ openInput, target: t.factory(), confirm: true, onProgress }));
    } finally {
      await t.close();
    }
  });

  it('an abort mid-load ends with INTERRUPTED, rolled back, the target as it was found', async () => {
    // The same dump: the abort comes at 2000 rows, long before the row its NOT NULL refuses.
    const t = await backend.prepare(checked);
    const ac = new AbortController();
    try {
      await failsAndRollsBack(t, 'INTERRUPTED', (onProgress) =>
        restoreInto(t, checkedDump, {
          signal: ac.signal,
          onProgress: (p) => {
            onProgress!(p);
            if (p.rows >= 2000) ac.abort();
          },
        }),
      );
    } finally {
      await t.close();
    }
  });
});

describe('a file target that another connection is writing to', () => {
  /** A confirmed restore into `path` while a writer holds it (`begin`): refused in the backup's words, the file as it was. */
  async function lockedRefusal(path: string, begin: string) {
    const writer = new Database(path);
    writer.exec(begin);
    writer.exec('CREATE TABLE app (x)');
    try {
      const t = fileTarget(path);
      const before = t.fingerprint();
      const e = await rejection(restoreInto(t, nastyDump));
      expect(e, e.message).toBeInstanceOf(BackupError);
      expect((e as BackupError).code, e.message).toBe('REFUSED');
      expect(e.message).toBe(`${path} is locked by another connection that is writing to it (waited 10 s): try again when it is done`);
      expect(t.fingerprint()).toEqual(before);
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
    }
  }

  it('in WAL mode (the restore reads it, then cannot begin its write transaction)', { timeout: 30_000 }, async () => {
    const path = join(dirs.make(), 'wal.db');
    emptyFile(path);
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.close();
    await lockedRefusal(path, 'BEGIN IMMEDIATE');
  });

  it('with a rollback journal (the restore cannot even read it)', { timeout: 30_000 }, async () => {
    const path = join(dirs.make(), 'journal.db');
    emptyFile(path);
    await lockedRefusal(path, 'BEGIN EXCLUSIVE');
  });
});

describe('a file target path that cannot become a database is refused before the dump is read', () => {
  /** The factory's refusal: it looks at the path when it is made, before a restore opens the dump. */
  function factoryRefusal(path: string): BackupError {
    let error: unknown;
    try {
      localTargetFactory(path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BackupError);
    return error as BackupError;
  }

  it('a symbolic link to a missing file, naming where it points', () => {
    const dir = dirs.make();
    symlinkSync('releases/x/app.db', join(dir, 'current.db'));
    const e = factoryRefusal(join(dir, 'current.db'));
    expect(e.code).toBe('REFUSED');
    expect(e.message).toBe(
      `the target ${join(dir, 'current.db')} is a symbolic link to a missing file (${join(dir, 'releases/x/app.db')}): give the real path as --target`,
    );
    expect(listDir(dir)).toEqual(['current.db']);
  });

  it('a path under a file (app.db/restored.db), naming the file, however deep', () => {
    const dir = dirs.make();
    const app = join(dir, 'app.db');
    emptyFile(app);
    for (const target of [join(app, 'restored.db'), join(app, 'sub', 'restored.db')]) {
      const e = factoryRefusal(target);
      expect(e.code).toBe('REFUSED');
      expect(e.message).toBe(`${app} is not a directory: the target ${target} cannot be created under it (give a path in a directory)`);
    }
    expect(listDir(dir)).toEqual(['app.db']);
  });
});
