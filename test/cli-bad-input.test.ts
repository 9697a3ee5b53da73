/**
 * Bad input at the operator commands: each gets one line, the right exit status, and nothing written.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyDb, listDir, tempDirs } from './support/dumps.js';
import { capture, lastJson, runCli, runScript, type ScriptRun } from './support/scripts.js';

const dirs = tempDirs('tb-bad-');
let dir: string;
let db: string;
let dump: string;
let encrypted: string;
const KEY = randomBytes(32).toString('hex');
const base = { TURSO_AUTH_TOKEN: undefined, BACKUP_ENCRYPTION_KEY: undefined, DEBUG: undefined };

const oneLine = (stderr: string) => {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
};

beforeAll(async () => {
  dir = dirs.make();
  db = join(dir, 'src.db');
  buildTinyDb(db);
  dump = join(dir, 'plain.ndjson.gz');
  encrypted = join(dir, 'enc.ndjson.gz');
  const url = `file:${db}`;
  expect((await runScript('backup-turso', ['--write', '--out', dump, '--quiet'], { ...base, TURSO_DATABASE_URL: url })).code).toBe(0);
  expect(
    (await runScript('backup-turso', ['--write', '--encrypt', '--out', encrypted, '--quiet'], { ...base, TURSO_DATABASE_URL: url, BACKUP_ENCRYPTION_KEY: KEY }))
      .code,
  ).toBe(0);
});
afterAll(() => dirs.cleanup());

async function restoreRefused(source: string, env: Record<string, string | undefined> = {}) {
  const target = join(dir, `target-${randomBytes(4).toString('hex')}.db`);
  const before = listDir(dir);
  const r = await runScript('restore-turso', [source, '--confirm'], { ...base, TURSO_DATABASE_URL: `file:${target}`, ...env });
  expect(r.code).toBe(1);
  oneLine(r.stderr);
  expect(existsSync(target)).toBe(false);
  expect(listDir(dir)).toEqual(before);
  return r.stderr;
}

describe('restore sources that are not what they claim', () => {
  it('random bytes', async () => {
    const f = join(dir, 'random.bin');
    // Not starting like JSON (`{`, `[`, whitespace): ~1% of random files would, and be refused by the JSON parser.
    writeFileSync(f, Buffer.concat([Buffer.from([0]), randomBytes(4095)]));
    expect(await restoreRefused(f)).toMatch(/neither a turso-backup dump nor a JSON backup/);
  });

  it('JSON of the wrong shape', async () => {
    const f = join(dir, 'wrong.json');
    writeFileSync(f, JSON.stringify({ createdAt: 'x', tables: [1, 2, 3] }));
    expect(await restoreRefused(f)).toMatch(/not a legacy JSON backup/);
  });

  it('a truncated encrypted dump, with the right key', async () => {
    const bytes = readFileSync(encrypted);
    const f = join(dir, 'enc-truncated.ndjson.gz');
    writeFileSync(f, bytes.subarray(0, bytes.length - 30));
    expect(await restoreRefused(f, { BACKUP_ENCRYPTION_KEY: KEY })).toMatch(/truncated|the encrypted file was changed/);
  });

  it('a tampered encrypted dump, with the right key', async () => {
    const bytes = Buffer.from(readFileSync(encrypted));
    bytes[bytes.length >> 1]! ^= 0x01;
    const f = join(dir, 'enc-tampered.ndjson.gz');
    writeFileSync(f, bytes);
    expect(await restoreRefused(f, { BACKUP_ENCRYPTION_KEY: KEY })).toMatch(/the encrypted file was changed: a block of it failed its authentication/);
    // The key was proved right by the header: verify calls it damaged (exit 3), as an unencrypted changed dump.
    const v = await runScript('verify-backup', [f], { BACKUP_ENCRYPTION_KEY: KEY });
    expect(v.code, v.stderr).toBe(3);
  });
});

describe('restore targets that cannot be', () => {
  it('a file: target in a directory that does not exist: refused before reading the dump, dry run or not', async () => {
    const target = join(dir, 'no-such-dir', 'x.db');
    for (const args of [[dump], [dump, '--confirm']]) {
      const r = await runScript('restore-turso', args, { ...base, TURSO_DATABASE_URL: `file:${target}` });
      expect(r.code).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toMatch(/the target's directory .*no-such-dir does not exist: create it first/);
      expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
    }
  });
});

describe('conflicting or malformed flags are usage errors (exit 2), nothing written', () => {
  const cases: [string, string[]][] = [
    ['backup-turso', ['--out', 'x.ndjson.gz']],
    ['backup-turso', ['--write', '--tables', 'a', '--exclude-tables', 'a']],
    ['backup-turso', ['--write', '--gzip-level', '11']],
    ['backup-turso', ['--encrypt']],
    ['restore-turso', ['one', 'two']],
    ['restore-turso', []],
  ];
  for (const [script, args] of cases) {
    it(`${script} ${args.join(' ')}`, async () => {
      const before = listDir(dir);
      const r = await runScript(script, args, { ...base, TURSO_DATABASE_URL: `file:${db}` });
      expect(r.code).toBe(2);
      oneLine(r.stderr);
      expect(listDir(dir)).toEqual(before);
    });
  }
});

it('progress goes to stderr while --json keeps stdout to the summary line', async () => {
  const out = join(dir, 'progress.ndjson.gz');
  const r = await runScript('backup-turso', ['--write', '--out', out, '--json'], { ...base, TURSO_DATABASE_URL: `file:${db}`, TURSO_BACKUP_PROGRESS_MS: '1' });
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/rows\/s/);
  const stdout = r.stdout.trim().split('\n');
  expect(stdout).toHaveLength(1);
  expect(JSON.parse(stdout[0]!)).toMatchObject({ mode: 'write', file: out });
});

describe('a source database another connection holds', () => {
  it('a backup of a database locked by a writer says so, after waiting, in one line', { timeout: 30_000 }, async () => {
    const locked = join(dirs.make(), 'locked.db');
    buildTinyDb(locked);
    const Database = (await import('better-sqlite3')).default;
    const writer = new Database(locked);
    writer.pragma('journal_mode = DELETE');
    writer.exec('BEGIN EXCLUSIVE');
    try {
      const out = join(dirs.make(), 'd.ndjson.gz');
      const r = await runScript('backup-turso', ['--write', '--out', out], { ...base, TURSO_DATABASE_URL: `file:${locked}` });
      expect(r.code).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toMatch(/is locked by another connection that is writing to it \(waited 10 s\)/);
      expect(existsSync(out)).toBe(false);
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
    }
  });
});

describe('a database made by an application that defines its own collation (Anki’s "unicase")', () => {
  /** The schema text an application that registered `unicase` would have stored (SQLite keeps unknown names in it). */
  async function appCollationDb(path: string, withoutRowid: boolean) {
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path);
    db.exec(
      withoutRowid
        ? `CREATE TABLE tags (tag TEXT NOT NULL PRIMARY KEY COLLATE NOCASE, usn INTEGER NOT NULL) WITHOUT ROWID; INSERT INTO tags VALUES ('Foo', 0), ('bar', 0);`
        : `CREATE TABLE notetypes (id INTEGER PRIMARY KEY, name TEXT NOT NULL); CREATE UNIQUE INDEX idx_notetypes_name ON notetypes (name COLLATE NOCASE);
           INSERT INTO notetypes VALUES (1, 'Basic'), (2, 'Cloze');`,
    );
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    db.prepare("UPDATE sqlite_schema SET sql = replace(sql, 'NOCASE', 'unicase')").run();
    db.pragma('writable_schema = OFF');
    db.close();
  }

  for (const withoutRowid of [false, true]) {
    it(`a backup is refused in one line naming the collation, nothing written (${withoutRowid ? 'the key of a WITHOUT ROWID table' : 'a unique index'})`, async () => {
      const src = join(dirs.make(), 'app.db');
      await appCollationDb(src, withoutRowid);
      const out = join(dirs.make(), 'd.ndjson.gz');
      for (const args of [[], ['--write', '--out', out]]) {
        const r = await runScript('backup-turso', args, { ...base, TURSO_DATABASE_URL: `file:${src}` });
        expect(r.code).toBe(1);
        oneLine(r.stderr);
        expect(r.stderr).toMatch(/uses the collation "unicase", which its application defines/);
        expect(r.stderr).not.toMatch(/unexpected/);
      }
      expect(existsSync(out)).toBe(false);
    });
  }
});

describe('a database damaged where only reading its rows finds it', () => {
  it('the backup says the file is damaged and how to find where, in one line, and writes nothing', async () => {
    const Database = (await import('better-sqlite3')).default;
    const src = join(dirs.make(), 'damaged.db');
    const db = new Database(src);
    db.exec(
      "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t (body) SELECT printf('%.200c', 'x') FROM n;",
    );
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.close();
    // A leaf page of the table's b-tree overwritten: the file opens, its schema reads, the rows do not.
    const fd = openSync(src, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, (pages - 2) * 4096);
    closeSync(fd);
    const out = join(dirs.make(), 'd.ndjson.gz');
    for (const args of [[], ['--write', '--out', out], ['--json']]) {
      const r = await runScript('backup-turso', args, { ...base, TURSO_DATABASE_URL: `file:${src}` });
      expect(r.code).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toMatch(/damaged\.db is damaged \(SQLite: database disk image is malformed\): .*PRAGMA integrity_check/);
      if (args[0] === '--json') expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'CORRUPT' });
    }
    expect(existsSync(out)).toBe(false);
  });
});

describe('a virtual table whose module only an extension provides (sqlite-vec, spellfix1)', () => {
  it('is refused by name with the way to back up the rest, which then works', async () => {
    const Database = (await import('better-sqlite3')).default;
    const src = join(dirs.make(), 'vec.db');
    const db = new Database(src);
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO items (title) VALUES ('a');");
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    // What CREATE VIRTUAL TABLE leaves in the schema where the extension was loaded.
    db.prepare("INSERT INTO sqlite_schema (type, name, tbl_name, rootpage, sql) VALUES ('table', 'vec_items', 'vec_items', 0, ?)").run(
      'CREATE VIRTUAL TABLE vec_items USING vec0(embedding float[4])',
    );
    db.pragma('writable_schema = OFF');
    db.close();
    const env = { ...base, TURSO_DATABASE_URL: `file:${src}` };
    const r = await runScript('backup-turso', [], env);
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toMatch(/table "vec_items" cannot be read here \(no such module: vec0\): .*--exclude-tables "vec_items" backs up the rest$/m);
    const rest = await runScript('backup-turso', ['--exclude-tables', 'vec_items', '--json'], env);
    expect(rest.code, rest.stderr).toBe(0);
    expect(lastJson(rest.stdout).tables).toEqual({ items: 1 });
  });
});

describe('an expression index on a function only the application defines', () => {
  it('is backed up with a note that a restore will fail to create it, which the restore dry run repeats', async () => {
    const Database = (await import('better-sqlite3')).default;
    const dir = dirs.make();
    const src = join(dir, 'appfn.db');
    const db = new Database(src);
    db.exec(
      "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT); CREATE INDEX notes_norm ON notes (lower(title)); INSERT INTO notes (title) VALUES ('A');",
    );
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    // What the application's own connection (which registered myfn) would have stored.
    db.prepare("UPDATE sqlite_schema SET sql = replace(sql, 'lower(', 'myfn(') WHERE name = 'notes_norm'").run();
    db.pragma('writable_schema = OFF');
    db.close();
    const out = join(dir, 'd.ndjson.gz');
    const r = await runScript('backup-turso', ['--write', '--out', out], { ...base, TURSO_DATABASE_URL: `file:${src}` });
    expect(r.code, r.stderr).toBe(0);
    const note = /a restore of this dump will fail: SQLite cannot create index "notes_norm" \(no such function: myfn\)/;
    expect(r.stdout + r.stderr).toMatch(note);
    const dry = await runScript('restore-turso', [out, '--target', `file:${join(dir, 'r.db')}`], base);
    expect(dry.code).toBe(0);
    expect(dry.stdout + dry.stderr).toMatch(new RegExp(`warning: ${note.source}`));
  });
});

describe('a schema an old application wrote in Latin-1 (bytes that are not UTF-8)', () => {
  it('is refused by name before the first row: read as text, it would come back changed while the restore said verified', async () => {
    const Database = (await import('better-sqlite3')).default;
    const src = join(dirs.make(), 'latin1.db');
    const db = new Database(src);
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, unit TEXT DEFAULT 'xm'); INSERT INTO t (id) VALUES (1);");
    const sql = db.prepare("SELECT sql FROM sqlite_schema WHERE name = 't'").pluck().get() as string;
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    // 'µm' in Latin-1: B5 6D, as the file holds it (SQLite keeps the bytes it is given).
    db.prepare("UPDATE sqlite_schema SET sql = CAST(? AS TEXT) WHERE name = 't'").run(Buffer.from(sql.replace("'xm'", "'\xb5m'"), 'latin1'));
    db.pragma('writable_schema = OFF');
    db.close();
    const out = join(dirs.make(), 'd.ndjson.gz');
    for (const args of [[], ['--write', '--out', out]]) {
      const r = await runScript('backup-turso', args, { ...base, TURSO_DATABASE_URL: `file:${src}` });
      expect(r.code).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toMatch(/table "t": its SQL text holds bytes that are not UTF-8 .* --exclude-tables "t"$/m);
    }
    expect(existsSync(out)).toBe(false);
  });
});

describe('a dump folder that cannot be written', () => {
  it('a file where the folder should be: one line naming the folder, nothing written', async () => {
    const d = dirs.make();
    const notDir = join(d, 'not-a-folder');
    writeFileSync(notDir, 'x');
    // Directly under the file, and a folder deeper (where looking at the path itself fails with ENOTDIR).
    for (const out of [join(notDir, 'd.ndjson.gz'), join(notDir, 'sub', 'd.ndjson.gz')]) {
      const r = await runScript('backup-turso', ['--write', '--out', out], { ...base, TURSO_DATABASE_URL: `file:${db}` });
      expect(r.code).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toMatch(/cannot write a dump into .*not-a-folder.*: .*not-a-folder is a file, not a folder$/m);
      expect(r.stderr).not.toMatch(/unexpected/);
      expect(listDir(d)).toEqual(['not-a-folder']);
    }
  });
});

describe('names from the database that would drive a terminal', () => {
  it('are printed with their control characters escaped, on one line; --json keeps them exact', async () => {
    const db = join(dirs.make(), 'esc.db');
    // Bidi overrides too (U+202E): they reorder what the terminal shows, e.g. a name that reads as another.
    const name = 'red\x1b[31mX\x1b[0m\x07\nnext\u009b2J\u202egpj.exe';
    const Database = (await import('better-sqlite3')).default;
    const d = new Database(db);
    d.exec(`CREATE TABLE "${name}" (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO "${name}" (v) VALUES ('a');`);
    d.close();
    const env = { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined };
    const dump = join(dirs.make(), 'esc.ndjson.gz');
    const runs = [
      await runScript('backup-turso', ['--db', `file:${db}`, '--write', '--out', dump], env),
      await runScript('restore-turso', [dump, '--target', `file:${join(dirs.make(), 'esc-restored.db')}`, '--confirm'], env),
      await runScript('backup-turso', ['--db', `file:${db}`, '--tables', `${name}!`], env),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 0, 2]);
    for (const r of runs) {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: what must not reach the terminal
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/^next/m);
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
    }
    expect(runs[0]!.stdout).toContain('red\\u001b[31mX\\u001b[0m\\u0007\\u000anext\\u009b2J\\u202egpj.exe');
    const json = await runScript('backup-turso', ['--db', `file:${db}`, '--json'], env);
    const last = json.stdout.trim().split('\n').pop()!;
    expect(last).not.toMatch(/[\x7f-\x9f\u202e]/);
    expect(Object.keys(JSON.parse(last).tables)).toEqual([name]);
  }, 60_000);
});

describe('slips an operator makes, answered with the way out', () => {
  it("a dump's manifest given as the dump: verify, restore and drill all say so and name the dump (exit 2)", async () => {
    const manifest = `${dump}.manifest.json`;
    const target = join(dirs.make(), 'never.db');
    for (const args of [
      ['verify', manifest],
      ['restore', manifest, '--target', `file:${target}`, '--confirm'],
      ['drill', manifest],
    ]) {
      const r = await runCli(args, { ...base, TURSO_DATABASE_URL: `file:${db}` });
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(2);
      oneLine(r.stderr);
      expect(r.stderr).toContain(`${manifest} is a backup's manifest, not its dump: give ${dump}`);
      expect(r.stderr).not.toMatch(/legacy/);
    }
    expect(existsSync(target)).toBe(false);
  }, 60_000);

  it('--out naming a directory, and --db naming a file without file:', async () => {
    const db = join(dirs.make(), 'slip.db');
    buildTinyDb(db);
    const env = { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined };
    const folder = dirs.make();
    const out = await runScript('backup-turso', ['--db', `file:${db}`, '--write', '--out', folder], env);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(`${folder} is a directory: --out takes the dump's file name`);
    expect(listDir(folder)).toEqual([]);
    const bare = await runScript('backup-turso', ['--db', db], env);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain(`for a file, write file:${db}`);
    const secret = await runScript('backup-turso', ['--db', 'libsql//host?authToken=s3cr3t-value'], env);
    expect(secret.code).toBe(2);
    expect(secret.stderr).not.toContain('s3cr3t');
    expect(secret.stderr).not.toContain('for a file');
  }, 60_000);
});

/** Root runs the CLI as user nobody (setpriv) for what only permissions decide; another user's run is skipped. */
const AS_OTHER = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv');
const CHECKOUT = new URL('../', import.meta.url).pathname;

/** `turso-backup <args>` as user nobody, from the current sources (dist/ or their bundle, both world-readable). */
async function runAsNobody(args: string[], cwd: string = openDir()): Promise<ScriptRun> {
  const { entryPoint, NODE_FLAGS } = await import('../scripts/lib/launch.mjs');
  const entry = await entryPoint();
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: '/tmp' };
  for (const k of ['TURSO_DATABASE_URL', 'TURSO_AUTH_TOKEN', 'BACKUP_ENCRYPTION_KEY', 'DEBUG', 'TURSO_BACKUP_ALIAS']) delete env[k];
  return capture('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...NODE_FLAGS, entry, ...args], { cwd, env });
}

/** A directory user nobody may enter and read (mkdtemp makes them 0700). */
function openDir(): string {
  const d = dirs.make();
  chmodSync(d, 0o755);
  return d;
}

describe.skipIf(!AS_OTHER)('files the operator may not read, told apart from missing ones (run as another user)', () => {
  it('a dump the user may not read (dumps are 0600): verify and restore say permission denied, in one line', { timeout: 60_000 }, async () => {
    const d = openDir();
    const mine = join(d, 'd.ndjson.gz');
    copyFileSync(dump, mine);
    chmodSync(mine, 0o600);
    const target = join(d, 'r.db');
    for (const args of [
      ['verify', mine],
      ['restore', mine, '--target', `file:${target}`, '--confirm'],
    ]) {
      const r = await runAsNobody(args);
      expect(r.code, r.stderr).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toContain(`cannot read ${mine}: permission denied`);
    }
    expect(listDir(d)).toEqual(['d.ndjson.gz']);
  });

  it('a .env in the working directory the user may not read: one CONFIG line, exit 2, nothing of its contents', { timeout: 30_000 }, async () => {
    const d = openDir();
    writeFileSync(join(d, '.env'), 'TURSO_DATABASE_URL=file:/data/app.db\nTURSO_AUTH_TOKEN=s3cr3t-token\n', { mode: 0o600 });
    const r = await runAsNobody(['backup', '--json'], d);
    expect(r.code, r.stderr).toBe(2);
    oneLine(r.stderr);
    expect(r.stderr).toContain(`cannot read ${join(d, '.env')}: EACCES`);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'CONFIG' });
    expect(r.stdout + r.stderr).not.toContain('s3cr3t');
  });

  it('a database in a directory the user cannot enter is not called missing', { timeout: 30_000 }, async () => {
    const d = openDir();
    const priv = join(d, 'private');
    mkdirSync(priv, { mode: 0o700 });
    buildTinyDb(join(priv, 'app.db'));
    const r = await runAsNobody(['backup', '--db', `file:${join(priv, 'app.db')}`]);
    expect(r.code, r.stderr).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain(`cannot read ${join(priv, 'app.db')}: permission denied`);
  });

  it('a WAL database without its -shm file in a directory the user cannot write: says WAL needs that directory', { timeout: 30_000 }, async () => {
    const d = openDir();
    const app = join(d, 'app.db');
    buildTinyDb(app);
    const Database = (await import('better-sqlite3')).default;
    const w = new Database(app);
    w.pragma('journal_mode = WAL');
    w.close();
    chmodSync(app, 0o644);
    const r = await runAsNobody(['backup', '--db', `file:${app}`]);
    expect(r.code, r.stderr).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain(`${app} is in WAL mode, which needs write access to ${d} for its -shm file even to read it`);
    expect(listDir(d)).toEqual(['app.db']);
  });

  it('a restore target in a directory the user cannot enter is refused as such, not as a missing directory', { timeout: 30_000 }, async () => {
    const d = openDir();
    const readable = join(d, 'd.ndjson.gz');
    copyFileSync(dump, readable);
    chmodSync(readable, 0o644);
    const priv = join(d, 'private');
    mkdirSync(priv, { mode: 0o700 });
    const r = await runAsNobody(['restore', readable, '--target', `file:${join(priv, 'r.db')}`, '--confirm']);
    expect(r.code, r.stderr).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain(`cannot reach the target ${join(priv, 'r.db')}: permission denied`);
    expect(listDir(priv)).toEqual([]);
  });

  it('a restore target in a directory the user cannot write: the dry run says so, as --confirm does, before any read', { timeout: 60_000 }, async () => {
    const d = openDir();
    const readable = join(d, 'd.ndjson.gz');
    copyFileSync(dump, readable);
    chmodSync(readable, 0o644);
    const ro = join(d, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    const target = join(ro, 'new.db');
    for (const confirm of [[], ['--confirm']]) {
      const r = await runAsNobody(['restore', readable, '--target', `file:${target}`, ...confirm]);
      expect(r.code, r.stderr).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toBe(`turso-backup restore: error: cannot create the target ${target}: ${ro} is not writable by this user\n`);
      expect(listDir(ro)).toEqual([]);
    }
  });

  it('a restore into a directory the user may write but not list (mode 733) succeeds', { timeout: 60_000 }, async () => {
    const d = openDir();
    const readable = join(d, 'd.ndjson.gz');
    copyFileSync(dump, readable);
    chmodSync(readable, 0o644);
    const drop = join(d, 'drop');
    mkdirSync(drop);
    chmodSync(drop, 0o733);
    const target = join(drop, 'r.db');
    const r = await runAsNobody(['restore', readable, '--target', `file:${target}`, '--confirm']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`→ file:${target} (empty target`);
    expect(listDir(drop)).toEqual(['r.db']);
  });

  it.skipIf(!existsSync(join(CHECKOUT, 'dist', 'cli', 'bin.js')))(
    "the package's bin, when it cannot start node again (a node this user runs but cannot reach by its path), runs the command itself",
    { timeout: 60_000 },
    async () => {
      // setpriv can start a node that lies in a directory user nobody may not search; that node's own spawn of it cannot.
      const hidden = dirs.make(); // 0700, root's
      const node = join(hidden, 'node');
      try {
        linkSync(process.execPath, node);
      } catch {
        copyFileSync(process.execPath, node);
        chmodSync(node, 0o755);
      }
      const d = openDir();
      const readable = join(d, 'd.ndjson.gz');
      copyFileSync(dump, readable);
      chmodSync(readable, 0o644);
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: '/tmp', DEBUG: '1' };
      const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];
      const r = await capture('/usr/bin/setpriv', [...nobody, node, join(CHECKOUT, 'bin', 'turso-backup.mjs'), 'verify', readable], { cwd: d, env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^ok: /m);
      expect(r.stderr).toMatch(/^turso-backup: cannot start node \(spawn .* EACCES\); running it here$/m);
    },
  );
});

describe('a database a writer left with a hot journal (it stopped mid-transaction)', () => {
  it('a backup says a writer must roll it back first, in one line, and leaves both files as they were', async () => {
    const d = dirs.make();
    const app = join(d, 'app.db');
    buildTinyDb(app);
    // A hot journal: a crashed writer's copy of the pages it changed, kept by copying both files mid-transaction.
    const Database = (await import('better-sqlite3')).default;
    const w = new Database(app);
    w.pragma('cache_size = 1');
    w.exec('BEGIN');
    w.exec('CREATE TABLE pad (x); INSERT INTO pad SELECT zeroblob(4000) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)');
    const crashed = join(d, 'crashed');
    mkdirSync(crashed);
    copyFileSync(app, join(crashed, 'app.db'));
    copyFileSync(`${app}-journal`, join(crashed, 'app.db-journal'));
    w.exec('ROLLBACK');
    w.close();
    const hot = join(crashed, 'app.db');
    const before = [readFileSync(hot), readFileSync(`${hot}-journal`)];
    const r = await runScript('backup-turso', ['--db', `file:${hot}`], base);
    expect(r.code, r.stderr).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain(`${hot} has a hot journal (its -journal file: a writer stopped mid-transaction) that a writer must roll back first`);
    expect([readFileSync(hot), readFileSync(`${hot}-journal`)]).toEqual(before);
  });
});

describe('a file target named in the dry run, and targets refused before the dump is read', () => {
  it('the dry run of a new file names its path, as the confirmed run does', async () => {
    const target = join(dirs.make(), 'fresh.db');
    const r = await runScript('restore-turso', [dump, '--target', `file:${target}`], base);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`dry run: ${dump} → file:${target} (new file)`);
    expect(existsSync(target)).toBe(false);
  });

  it('a path under a file (app.db/restored.db): one line naming the file, dry run or not', async () => {
    const d = dirs.make();
    copyFileSync(db, join(d, 'app.db'));
    for (const args of [[dump], [dump, '--confirm']]) {
      const r = await runScript('restore-turso', [...args, '--target', `file:${join(d, 'app.db', 'restored.db')}`], base);
      expect(r.code).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toContain(`${join(d, 'app.db')} is not a directory`);
      expect(listDir(d)).toEqual(['app.db']);
    }
  });

  it('a symbolic link to a missing file: one line, nothing created', async () => {
    const d = dirs.make();
    symlinkSync('real/app.db', join(d, 'app.db'));
    mkdirSync(join(d, 'real'));
    const r = await runScript('restore-turso', [dump, '--target', `file:${join(d, 'app.db')}`, '--confirm'], base);
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain('is a symbolic link to a missing file');
    expect(listDir(join(d, 'real'))).toEqual([]);
  });
});
