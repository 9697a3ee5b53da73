/**
 * Where a command's database and token come from (--db / --target over TURSO_DATABASE_URL, --auth-token-env, a
 * .env file), what --json prints on failure, and the exit codes of the checks (issue 14). Real SQLite files, the
 * sqld stand-in over HTTP driven by the real @libsql/client.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyDb, listDir, tempDirs } from './support/dumps.js';
import { startHranaServer, type HranaServer } from './support/hrana-server.js';
import { lastJson, runCli, runScript } from './support/scripts.js';

const dirs = tempDirs('tb-flags-');
const clean = {
  TURSO_DATABASE_URL: undefined,
  TURSO_AUTH_TOKEN: undefined,
  BLOB_READ_WRITE_TOKEN: undefined,
  BACKUP_ENCRYPTION_KEY: undefined,
  DEBUG: undefined,
};
const TOKEN = 'hrana-token-for-the-flags-test-1234';
let dir: string;
let db: string; // tables alpha, "beta table"
let other: string; // table only_here
let dump: string;
let server: HranaServer;

const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

beforeAll(async () => {
  dir = dirs.make();
  db = join(dir, 'tiny.db');
  buildTinyDb(db);
  other = join(dir, 'other.db');
  const { default: Database } = await import('better-sqlite3');
  const o = new Database(other);
  o.exec('CREATE TABLE only_here (x); INSERT INTO only_here VALUES (1), (2), (3)');
  o.close();
  dump = join(dir, 'tiny.ndjson.gz');
  const r = await runCli(['backup', '--db', `file:${db}`, '--write', '--out', dump, '--quiet'], clean);
  expect(r.code, r.stderr).toBe(0);
  const served = join(dirs.make(), 'served.db');
  buildTinyDb(served);
  server = await startHranaServer({ db: served, token: TOKEN });
});
afterAll(async () => {
  await server?.close();
  dirs.cleanup();
});

describe('--db and --target override TURSO_DATABASE_URL', () => {
  it('backup --db reads the database it names, not the variable', async () => {
    const r = await runCli(['backup', '--db', `file:${other}`, '--json'], { ...clean, TURSO_DATABASE_URL: `file:${db}` });
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ mode: 'dry-run', tables: { only_here: 3 } });
  });

  it("restore --target writes where it says and leaves the variable's database alone", async () => {
    const target = join(dirs.make(), 'restored.db');
    const before = readFileSync(other);
    const r = await runScript('restore-turso', [dump, '--target', `file:${target}`, '--confirm', '--json'], { ...clean, TURSO_DATABASE_URL: `file:${other}` });
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ mode: 'restore', verified: true, tables: { alpha: 3, 'beta table': 2 } });
    expect(existsSync(target)).toBe(true);
    expect(readFileSync(other).equals(before)).toBe(true);
  });

  it('migrate --db and media commands --db take the flag too', async () => {
    const target = join(dirs.make(), 'migrated.db');
    const migrations = new URL('../fixtures/prisma/migrations', import.meta.url).pathname;
    const m = await runCli(['migrate', '--db', `file:${target}`, '--dir', migrations, '--confirm', '--json'], clean);
    expect(m.code, m.stderr).toBe(0);
    expect(lastJson(m.stdout).applied.length).toBeGreaterThan(0);
    // relink's dry run reads the media table of --db (a table the tiny database lacks: the error names it).
    const r = await runCli(['relink', '--db', `file:${target}`, '--from', 'https://a/', '--to', 'https://b/', '--json'], clean);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ mode: 'dry-run', matched: 0 });
  });

  it('neither flag nor variable: exit 2 naming both', async () => {
    for (const [cmd, flag] of [
      ['backup', '--db'],
      ['migrate', '--db'],
      ['relink', '--db'],
    ] as const) {
      const args = cmd === 'relink' ? [cmd, '--from', 'a', '--to', 'b'] : [cmd];
      const r = await runCli(args, clean);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`TURSO_DATABASE_URL is not set and no ${flag} URL was given`);
    }
    const r = await runCli(['restore', dump], clean);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no --target URL was given');
    const bad = await runCli(['backup', '--db', 'postgres://x'], clean);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--db must be a libsql:\/\/, https:\/\/, http:\/\/ or file: URL/);
    // user:password in the URL (sweep 4: it read as the server refusing a statement): every command refuses it
    // before any request, shows neither, and says where the token goes.
    for (const args of [
      ['backup', '--db', 'https://admin:S3cretPw@127.0.0.1:9/'],
      ['restore', dump, '--target', 'libsql://admin:S3cretPw@db.example.turso.io'],
    ]) {
      const r = await runCli(args, clean);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/must not carry a user name or password \(user:password@\): give it as .*, and the token in TURSO_AUTH_TOKEN/);
      expect(r.stderr + r.stdout).not.toMatch(/S3cretPw|admin/);
    }
  });
});

describe('--auth-token-env NAME', () => {
  it('reads the token from the variable it names, which wins over TURSO_AUTH_TOKEN', async () => {
    const env = { ...clean, TURSO_DATABASE_URL: server.url, TURSO_AUTH_TOKEN: 'a-wrong-token-0000', SCRATCH_DB_TOKEN: TOKEN };
    const r = await runCli(['backup', '--auth-token-env', 'SCRATCH_DB_TOKEN', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ mode: 'dry-run', tables: { alpha: 3 } });
    // Without the flag the (wrong) TURSO_AUTH_TOKEN is used and refused; the token never appears in the output.
    const refused = await runCli(['backup', '--json'], env);
    expect(refused.code).toBe(1);
    expect(lastJson(refused.stdout)).toMatchObject({ ok: false, code: 'AUTH' });
    expect(refused.stdout + refused.stderr).not.toContain('a-wrong-token-0000');
  });

  it('restore --target a remote database with --auth-token-env', async () => {
    const env = { ...clean, SCRATCH_DB_TOKEN: TOKEN };
    const empty = await startHranaServer({ db: join(dirs.make(), 'empty.db'), token: TOKEN });
    try {
      const r = await runCli(['restore', dump, '--target', empty.url, '--auth-token-env', 'SCRATCH_DB_TOKEN', '--confirm', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(lastJson(r.stdout)).toMatchObject({ mode: 'restore', verified: true, tables: { alpha: 3, 'beta table': 2 } });
      expect(r.stdout + r.stderr).not.toContain(TOKEN);
    } finally {
      await empty.close();
    }
  });

  it('drill --target a remote database: the checks run there, and it is left in place', async () => {
    const scratch = await startHranaServer({ db: join(dirs.make(), 'scratch.db'), token: TOKEN });
    try {
      const r = await runCli(['drill', dump, '--target', scratch.url, '--auth-token-env', 'SCRATCH_DB_TOKEN', '--json'], { ...clean, SCRATCH_DB_TOKEN: TOKEN });
      expect(r.code, r.stderr).toBe(0);
      const s = lastJson(r.stdout);
      expect(s).toMatchObject({ ok: true, pass: true, tables: { alpha: 3, 'beta table': 2 } });
      expect(s.checks.map((c: { name: string }) => c.name)).toEqual(['restore', 'manifest', 'integrity_check', 'foreign_key_check']);
      expect(r.stderr).toContain(`the drilled database is left in place: ${scratch.url}`);
    } finally {
      await scratch.close();
    }
  });

  it('a variable that is not set: exit 2 naming it', async () => {
    const r = await runCli(['backup', '--db', server.url, '--auth-token-env', 'NOT_SET_ANYWHERE'], clean);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/NOT_SET_ANYWHERE is not set/);
  });
});

describe('.env in the working directory', () => {
  it('is read when present; variables already set win', async () => {
    const cwd = dirs.make();
    writeFileSync(join(cwd, '.env'), `# the app's .env\nTURSO_DATABASE_URL="file:${other}"\nUNRELATED=1\n`);
    const fromFile = await runCli(['backup', '--json'], clean, { cwd });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(lastJson(fromFile.stdout).tables).toEqual({ only_here: 3 });
    const set = await runCli(['backup', '--json'], { ...clean, TURSO_DATABASE_URL: `file:${db}` }, { cwd });
    expect(set.code, set.stderr).toBe(0);
    expect(lastJson(set.stdout).tables).toMatchObject({ alpha: 3 });
    // The aliases read it too (the child runs in the same working directory).
    const alias = await runScript('backup-turso', ['--json'], clean, { cwd });
    expect(lastJson(alias.stdout).tables).toEqual({ only_here: 3 });
  });

  it('a name in braces after $ is expanded and a byte order mark ignored, as Prisma reads it; the aliases read it the same way', async () => {
    const cwd = dirs.make();
    // The outside tester's .env, saved by an editor that writes a BOM.
    writeFileSync(join(cwd, '.env'), `\uFEFFBASE=${dir}\nTURSO_DATABASE_URL=file:\${BASE}/other.db\n`);
    const r = await runCli(['backup', '--json'], clean, { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).tables).toEqual({ only_here: 3 });
    const alias = await runScript('backup-turso', ['--json'], clean, { cwd });
    expect(alias.code, alias.stderr).toBe(0);
    expect(lastJson(alias.stdout).tables).toEqual({ only_here: 3 });
  });

  it('a .env whose variables refer round in a loop: one CONFIG line naming them, never their values', async () => {
    const cwd = dirs.make();
    writeFileSync(join(cwd, '.env'), `TURSO_DATABASE_URL=file:\${DB_DIR}/app.db\nTURSO_AUTH_TOKEN=s3cr3t-\${DB_DIR}\nDB_DIR=/data\${TURSO_AUTH_TOKEN}\n`);
    const r = await runCli(['backup', '--json'], clean, { cwd });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/TURSO_AUTH_TOKEN/);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'CONFIG' });
    expect(r.stdout + r.stderr).not.toContain('s3cr3t');
  });

  it('a token from .env reaches the remote database', async () => {
    const cwd = dirs.make();
    writeFileSync(join(cwd, '.env'), `TURSO_DATABASE_URL=${server.url}\nTURSO_AUTH_TOKEN=${TOKEN}\n`);
    const r = await runCli(['backup', '--json'], clean, { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).tables).toMatchObject({ alpha: 3 });
  });
});

describe('--json failures and exit codes', () => {
  it('a failure ends stdout with {ok:false, code, message}: usage 2, configuration 2, failed operation 1', async () => {
    const cases: [string[], Record<string, string | undefined>, number, string][] = [
      [['backup', '--bogus', '--json'], clean, 2, 'USAGE'],
      [['backup', '--json'], clean, 2, 'CONFIG'],
      [['backup', '--json', '--db', `file:${join(dir, 'missing.db')}`], clean, 1, 'NOT_FOUND'],
      [['verify', join(dir, 'nope.gz'), '--json'], clean, 1, 'NOT_FOUND'],
      [['restore', dump, '--json', '--target', `file:${db}`, '--confirm'], clean, 1, 'REFUSED'],
    ];
    for (const [args, env, code, errorCode] of cases) {
      const r = await runCli(args, env);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      const last = lastJson(r.stdout);
      expect(last).toEqual({ ok: false, code: errorCode, message: expect.any(String) });
      // The message is the stderr line's.
      expect(r.stderr).toContain(last.message);
      expect(lines(r.stdout)).toHaveLength(1);
    }
  });

  it("a flag whose value is missing, or starts with '-', says so in our words (not parseArgs' 'argument is ambiguous')", async () => {
    const missing = await runCli(['backup', '--tables', '--json'], clean);
    expect(missing.code).toBe(2);
    expect(lastJson(missing.stdout).message).toMatch(/^--tables needs a value \(one that starts with "-" is written --tables=VALUE\)/);
    const negative = await runCli(['prune', '--keep-daily', '-1'], clean);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toMatch(/--keep-daily needs a value/);
    const valued = await runCli(['verify', '--json=1', 'x.gz'], clean);
    expect(valued.code).toBe(2);
    expect(valued.stderr).toMatch(/--json takes no value/);
  });

  it('verify: a damaged dump is exit 3 (CORRUPT), a missing one 1', async () => {
    const bytes = readFileSync(dump);
    const cut = join(dirs.make(), 'cut.ndjson.gz');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 40));
    const r = await runCli(['verify', cut, '--json'], clean);
    expect(r.code).toBe(3);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'CORRUPT' });
  });

  it('backup --out a name not ending in .ndjson.gz (which check, drill and list would never see): USAGE, nothing written', async () => {
    const d = dirs.make();
    for (const name of ['today.gz', 'today.dump', 'TODAY.NDJSON.GZ']) {
      const r = await runCli(['backup', '--db', `file:${db}`, '--write', '--out', join(d, name)], clean);
      expect(r.code, name).toBe(2);
      expect(r.stderr.trim(), name).toMatch(/--out must name a file ending in \.ndjson\.gz \(check, drill, list and report find dumps by it\): /);
      expect(r.stderr).toContain(`: ${name} (usage: `);
    }
    expect(readdirSync(d)).toEqual([]);
  });

  it('drill: PASS exit 0; FAIL (the dump disagrees with its manifest) exit 3; --target leaves the database', async () => {
    const d = dirs.make();
    const good = join(d, 'backup-2026-01-01T00-00-00.000Z.ndjson.gz');
    expect((await runCli(['backup', '--db', `file:${db}`, '--write', '--out', good, '--quiet'], clean)).code).toBe(0);
    const pass = await runCli(['drill', '--dir', d, '--json'], clean);
    expect(pass.code, pass.stderr).toBe(0);
    expect(lastJson(pass.stdout)).toMatchObject({ ok: true, pass: true });

    const manifest = JSON.parse(readFileSync(`${good}.manifest.json`, 'utf8'));
    manifest.tables.alpha.rows = 99;
    writeFileSync(`${good}.manifest.json`, JSON.stringify(manifest));
    const fail = await runCli(['drill', good, '--json'], clean);
    expect(fail.code).toBe(3);
    expect(lastJson(fail.stdout)).toMatchObject({ ok: false, pass: false });
    expect(fail.stdout + fail.stderr).toMatch(/FAIL {2}manifest/);

    const target = join(dirs.make(), 'drilled.db');
    const into = await runCli(['drill', dump, '--target', `file:${target}`, '--json'], clean);
    expect(into.code, into.stderr).toBe(0);
    expect(existsSync(target)).toBe(true);
    expect(into.stderr).toMatch(/left in place/);
    expect((await runCli(['drill', dump, '--auth-token-env', 'X'], clean)).code).toBe(2);
  });

  it('usage errors leave nothing behind', async () => {
    const cwd = dirs.make();
    for (const args of [
      ['backup', '--clean-partials'],
      ['media-check', 'a.gz', '--dump', 'b.gz'],
      ['backup', '--write', '--gzip-level', '0'],
    ]) {
      const r = await runCli(args, { ...clean, TURSO_DATABASE_URL: `file:${db}`, BLOB_READ_WRITE_TOKEN: 'vercel_blob_rw_x_y' }, { cwd });
      expect(r.code, args.join(' ')).toBe(2);
      expect(listDir(cwd)).toEqual([]);
    }
  });
});

describe('drill of a dump of some tables', () => {
  it('passes, and shows the trigger the restore could create but not make usable', async () => {
    const db = join(dirs.make(), 'subset.db');
    const Database = (await import('better-sqlite3')).default;
    const d = new Database(db);
    d.exec(
      'CREATE TABLE a (id INTEGER PRIMARY KEY, qty INT); CREATE TABLE b (id INTEGER PRIMARY KEY, what TEXT); ' +
        "CREATE TRIGGER ta AFTER UPDATE ON a BEGIN INSERT INTO b (what) VALUES ('upd'); END; INSERT INTO a VALUES (1, 1);",
    );
    d.close();
    const env = { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined };
    const dump = join(dirs.make(), 'subset.ndjson.gz');
    expect((await runScript('backup-turso', ['--db', `file:${db}`, '--tables', 'a', '--write', '--out', dump], env)).code).toBe(0);
    const r = await runCli(['drill', dump, '--json'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('  note  a trigger on "a" cannot fire on the target: no such table: main.b');
    expect(lastJson(r.stdout).warnings).toEqual(['a trigger on "a" cannot fire on the target: no such table: main.b']);
  }, 60_000);
});

describe('--tables and --exclude-tables: names with commas, quotes and spaces', () => {
  it('a list is split at commas; a quoted name is taken exactly, a quote in it doubled', async () => {
    const { list } = await import('../src/cli/args.js');
    expect(list('a, b,c')).toEqual(['a', 'b', 'c']);
    expect(list('"a,b" , c,')).toEqual(['a,b', 'c']);
    expect(list('" padded ","say ""hi"""')).toEqual([' padded ', 'say "hi"']);
    expect(list(undefined)).toBeUndefined();
    expect(() => list('"open')).toThrow(/no closing quote/);
    expect(() => list('"a"b')).toThrow(/followed by a comma or the end/);
  });

  it('backs up and restores exactly the tables named, a comma in one of them', async () => {
    const db = join(dirs.make(), 'commas.db');
    const Database = (await import('better-sqlite3')).default;
    const d = new Database(db);
    d.exec('CREATE TABLE "a,b" (x); CREATE TABLE a (x); CREATE TABLE b (x); CREATE TABLE " c" (x); INSERT INTO "a,b" VALUES (1), (2);');
    d.close();
    const dump = join(dirs.make(), 'commas.ndjson.gz');
    const r = await runCli(['backup', '--db', `file:${db}`, '--tables', '"a,b", " c"', '--write', '--out', dump, '--json', '--quiet'], clean);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).tables).toEqual({ 'a,b': 2, ' c': 0 });
    const target = join(dirs.make(), 'restored.db');
    const rr = await runCli(['restore', dump, '--target', `file:${target}`, '--tables', '"a,b"', '--confirm', '--json', '--quiet'], clean);
    expect(rr.code, rr.stderr).toBe(0);
    expect(lastJson(rr.stdout)).toMatchObject({ verified: true, tables: { 'a,b': 2 } });
    const bad = await runCli(['backup', '--db', `file:${db}`, '--exclude-tables', '"a,b'], clean);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(
      'turso-backup backup: error: a quoted name has no closing quote in: "a,b (usage: turso-backup backup [flags]; --help lists the flags)',
    );
  }, 60_000);
});
