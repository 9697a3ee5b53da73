/**
 * `file:` paths as the operator writes them: shown as given (a relative path stays relative, so the message names
 * a file that exists), and a `%` that starts no escape is a one-line CONFIG error saying to write it `%25`, not an
 * "unexpected error: URI malformed". Remote URLs still lose their secrets when shown.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl, redactUrl } from '../src/db/url.js';
import { BackupError } from '../src/errors.js';
import { backupToFile, buildTinyDb, tempDirs } from './support/dumps.js';
import { lastJson, runCli } from './support/scripts.js';

const dirs = tempDirs('tb-url-paths-');
afterAll(() => dirs.cleanup());

const clean = { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined, BLOB_READ_WRITE_TOKEN: undefined, BACKUP_ENCRYPTION_KEY: undefined };
const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

/** The error parseDatabaseUrl throws for `url`. */
function parseError(url: string): BackupError {
  try {
    parseDatabaseUrl(url);
  } catch (e) {
    return e as BackupError;
  }
  throw new Error(`${url} was accepted`);
}

describe('redactUrl', () => {
  it('shows a file: URL with its path as given, without its query', () => {
    expect(redactUrl('file:w/drilltgt.db')).toBe('file:w/drilltgt.db');
    expect(redactUrl('file:./w/x.db')).toBe('file:./w/x.db');
    expect(redactUrl('file:/abs/x.db')).toBe('file:/abs/x.db');
    expect(redactUrl('file:///abs/x.db')).toBe('file:///abs/x.db');
    expect(redactUrl('file:50%25off.db?mode=ro#frag')).toBe('file:50%25off.db');
    expect(redactUrl('file://user:pw@host/x.db')).toBe('file://host/x.db');
  });

  it('still removes credentials and query values from remote URLs', () => {
    const shown = redactUrl('libsql://db-org.turso.io?authToken=s3cr3t-value');
    expect(shown).not.toContain('s3cr3t-value');
    expect(shown).toContain('authToken=REDACTED');
    expect(redactUrl('https://me:pw@db-org.turso.io/')).toBe('https://db-org.turso.io/');
    expect(redactUrl('libsql://[bad?authToken=s3cr3t')).toBe('libsql:…');
  });
});

describe('what a URL asks that this tool does not do', () => {
  it("a file: URL's SQLite open options (mode, vfs, immutable…): CONFIG naming the option, never its value", () => {
    for (const url of ['file:x.db?mode=ro', 'file:/tmp/x.db?cache=shared&mode=rwc', 'file:///tmp/x.db?immutable=1', 'file:x.db?VFS=unix-none']) {
      const e = parseError(url);
      expect(e.code, url).toBe('CONFIG');
      expect(e.message, url).toMatch(/has the SQLite open option "(mode|cache|immutable|vfs)", which this tool does not apply.*remove it$/);
    }
    expect(parseError('file:x.db?mode=ro-SECRET').message).not.toContain('SECRET');
    // An application's own parameters stay as they were: accepted, and never shown.
    expect(parseDatabaseUrl('file:/tmp/x.db?connection_limit=1&authToken=abc')).toEqual({ kind: 'file', path: '/tmp/x.db' });
  });

  it('a remote URL without a host: CONFIG, before any connection', () => {
    for (const url of ['libsql://', 'https://', 'libsql://?authToken=SECRET']) {
      const e = parseError(url);
      expect(e.code, url).toBe('CONFIG');
      expect(e.message, url).toMatch(/^TURSO_DATABASE_URL names no host/);
      expect(e.message).not.toContain('SECRET');
    }
  });

  it('restore --target names the flag, not TURSO_DATABASE_URL', async () => {
    const r = await runCli(['restore', 'nothing.ndjson.gz', '--target', 'libsql://'], clean);
    expect(r.code, r.stderr).toBe(2);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/error: --target names no host \(libsql:\/\/\)/)]);
  });
});

describe('a % in a file: path', () => {
  it('not followed by two hex digits: CONFIG, one line, saying to write %25', () => {
    for (const [url, fixed] of [
      ['file:/tmp/x/50%off.db', 'file:/tmp/x/50%25off.db'],
      ['file:100%.db', 'file:100%25.db'],
      ['file:///tmp/x/50%off.db', 'file:///tmp/x/50%25off.db'],
    ]) {
      const e = parseError(url!);
      expect(e).toBeInstanceOf(BackupError);
      expect(e.code, url).toBe('CONFIG');
      expect(e.message).not.toContain('\n');
      expect(e.message).toContain('write a literal % as %25');
      expect(e.message).toContain(fixed);
    }
    expect(parseError('file:/tmp/%ff.db').code).toBe('CONFIG'); // an escape, but not UTF-8
  });

  it('written %25, it is a % in the path', () => {
    expect(parseDatabaseUrl('file:/tmp/x/50%25off.db')).toEqual({ kind: 'file', path: '/tmp/x/50%off.db' });
    expect(parseDatabaseUrl('file:///tmp/x/50%25off.db')).toEqual({ kind: 'file', path: '/tmp/x/50%off.db' });
  });
});

describe('the CLI', () => {
  let dir: string;
  let db: string;
  let dump: string;
  beforeAll(async () => {
    dir = dirs.make();
    db = join(dir, '50%off.db');
    buildTinyDb(db);
    dump = join(dir, 'tiny.ndjson.gz');
    await backupToFile(db.replace('%', '%25'), dump);
  });

  it('--db file:…50%off.db: exit 2 with one line; file:…50%25off.db works', async () => {
    const bad = await runCli(['backup', '--db', `file:${db}`, '--json'], clean);
    expect(bad.code, bad.stderr).toBe(2);
    expect(lines(bad.stderr)).toHaveLength(1);
    expect(bad.stderr).toContain('--db is not a valid file: URL');
    expect(bad.stderr).toContain('%25');
    expect(bad.stderr).not.toContain('URI malformed');
    expect(lastJson(bad.stdout)).toMatchObject({ ok: false, code: 'CONFIG' });
    const good = await runCli(['backup', '--db', `file:${db.replace('%', '%25')}`, '--json'], clean);
    expect(good.code, good.stderr).toBe(0);
    expect(lastJson(good.stdout).tables).toMatchObject({ alpha: 3 });
  });

  it('drill --target file:100%.db: exit 2 with one line naming --target', async () => {
    const r = await runCli(['drill', dump, '--target', 'file:100%.db'], clean, { cwd: dirs.make() });
    expect(r.code, r.stderr).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/--target is not a valid file: URL \(file:100%\.db\).*%25 \(file:100%25\.db\)/);
  });

  it('drill --target file:w/drilltgt.db shows the relative path it wrote', async () => {
    const cwd = dirs.make();
    mkdirSync(join(cwd, 'w'));
    const r = await runCli(['drill', dump, '--target', 'file:w/drilltgt.db'], clean, { cwd });
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toContain(`restore drill: ${dump} → file:w/drilltgt.db`);
    expect(out).toContain('the drilled database is left in place: file:w/drilltgt.db');
    expect(out).not.toContain('file:/w/');
    expect(existsSync(join(cwd, 'w', 'drilltgt.db'))).toBe(true);
  });
});
