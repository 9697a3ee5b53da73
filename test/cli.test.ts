/**
 * The operator scripts, run for real: `node --import tsx scripts/*.ts` in a temp working directory, with a clean
 * environment (only what each test sets), checking exit codes, stdout/stderr discipline and what is left on disk.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../src/backup/backup.js';
import { dumpLines, gunzipFile, gzip, listDir, tempDirs } from './support/dumps.js';
import { buildBigDb, buildNastyDb, diffDumps, dumpDb, type DbDump } from './support/nasty-db.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const script = (name: string) => join(ROOT, 'scripts', `${name}.ts`);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(name: string, args: string[], env: Record<string, string>, cwd: string): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, ['--import', TSX, script(name), ...args], {
    cwd,
    // A clean environment: nothing of the developer's TURSO_* / BACKUP_* / DEBUG leaks in.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

const run = (name: string, args: string[], env: Record<string, string> = {}, cwd = work) => start(name, args, env, cwd).done;

const lines = (s: string) => s.split('\n').filter((l) => l !== '');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const noStack = (stderr: string) => expect(stderr).not.toMatch(/^\s+at /m);

const dirs = tempDirs('tb-cli-');
let work: string; // cwd of every run: nothing may appear here unless a test writes it
let src: string;
let url: string;
let source: DbDump;
let counts: Record<string, number>;
let dump: string; // a plain dump made through the CLI
const KEY = randomBytes(32).toString('hex');

beforeAll(async () => {
  work = dirs.make();
  const dbDir = dirs.make();
  src = join(dbDir, 'nasty.db');
  buildNastyDb(src, { small: true, eventRows: 2000 });
  url = `file:${src}`;
  source = dumpDb(src);
  counts = (await inspect({ url })).tables;
  dump = join(dirs.make(), 'cli.ndjson.gz');
  const r = await run('backup-turso', ['--write', '--out', dump, '--quiet'], { TURSO_DATABASE_URL: url });
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => dirs.cleanup());

describe('backup-turso', () => {
  it('dry run (the default) prints one line per table with its count and creates nothing', async () => {
    const r = await run('backup-turso', [], { TURSO_DATABASE_URL: url });
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^dry run: file:.*nothing written/);
    for (const [name, n] of Object.entries(counts)) {
      const matching = out.filter((l) => new RegExp(`^\\s+${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+${n}$`).test(l));
      expect(matching, `${name} ${n}\n${r.stdout}`).toHaveLength(1);
    }
    expect(listDir(work)).toEqual([]);
    expect(listDir(dirname(src))).toEqual(['nasty.db']);
  });

  it('without TURSO_DATABASE_URL: exit 2, one line naming the variable, no stack', async () => {
    const r = await run('backup-turso', []);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^backup-turso: error: .*TURSO_DATABASE_URL/);
    noStack(r.stderr);
    expect(r.stdout).toBe('');
  });

  it('an unknown flag: exit 2, one line, no stack', async () => {
    const r = await run('backup-turso', ['--bogus'], { TURSO_DATABASE_URL: url });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/--bogus/);
    noStack(r.stderr);
    expect(listDir(work)).toEqual([]);
  });

  it('a file: URL to a missing database: exit 1, the file is not created, nothing written', async () => {
    const missing = join(dirs.make(), 'missing.db');
    for (const args of [[], ['--write', '--out', join(work, 'never.ndjson.gz')]]) {
      const r = await run('backup-turso', args, { TURSO_DATABASE_URL: `file:${missing}` });
      expect(r.code).toBe(1);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toContain(missing);
      noStack(r.stderr);
      expect(existsSync(missing)).toBe(false);
      expect(listDir(work)).toEqual([]);
    }
  });

  it('with DEBUG=1 an error also prints its stack', async () => {
    const missing = join(dirs.make(), 'missing.db');
    const r = await run('backup-turso', [], { TURSO_DATABASE_URL: `file:${missing}`, DEBUG: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^backup-turso: error: /);
    expect(r.stderr).toMatch(/^\s+at /m);
  });

  it('--write --json: the last stdout line is the machine summary, human lines go to stderr', async () => {
    const dir = dirs.make();
    const out = join(dir, 'json.ndjson.gz');
    const r = await run('backup-turso', ['--write', '--json', '--out', out], { TURSO_DATABASE_URL: url });
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(lines(r.stdout).at(-1)!);
    for (const k of ['mode', 'file', 'bytes', 'sha256', 'tables', 'durationMs']) expect(summary).toHaveProperty(k);
    expect(summary.mode).toBe('write');
    expect(summary.file).toBe(out);
    const bytes = readFileSync(out);
    expect(summary.bytes).toBe(bytes.length);
    expect(summary.sha256).toBe(sha256(bytes));
    expect(summary.tables).toEqual(counts);
    expect(lines(r.stdout)).toHaveLength(1);
    expect(r.stderr).toMatch(/wrote /);
    expect(listDir(dir)).toEqual(['json.ndjson.gz', 'json.ndjson.gz.manifest.json']);
  });

  it('--tables / --exclude-tables: the selection is recorded in the manifest', async () => {
    const dir = dirs.make();
    const only = join(dir, 'only.ndjson.gz');
    const r = await run('backup-turso', ['--write', '--quiet', '--json', '--tables', 'items,Tag', '--out', only], { TURSO_DATABASE_URL: url });
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(JSON.parse(lines(r.stdout).at(-1)!).tables).sort()).toEqual(['Tag', 'items']);
    const m = JSON.parse(readFileSync(`${only}.manifest.json`, 'utf8'));
    expect(m.selection).toEqual({ tables: ['items', 'Tag'], excludeTables: [] });
    const but = join(dir, 'but.ndjson.gz');
    const e = await run('backup-turso', ['--write', '--quiet', '--exclude-tables', 'mixed', '--out', but], { TURSO_DATABASE_URL: url });
    expect(e.code, e.stderr).toBe(0);
    const m2 = JSON.parse(readFileSync(`${but}.manifest.json`, 'utf8'));
    expect(m2.selection).toEqual({ tables: null, excludeTables: ['mixed'] });
    expect(m2.tables).not.toHaveProperty('mixed');
    const bad = await run('backup-turso', ['--tables', 'nope'], { TURSO_DATABASE_URL: url });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/"nope"/);
    const cased = await run('backup-turso', ['--tables', 'tag'], { TURSO_DATABASE_URL: url });
    expect(cased.code).toBe(2);
    expect(cased.stderr).toMatch(/--tables names "tag", which is not a table of the database \(did you mean "Tag"\?/);
    // A media table named on purpose must exist: the dump would silently have no media inventory.
    const media = join(dir, 'media.ndjson.gz');
    const typo = await run('backup-turso', ['--write', '--media-table', 'tag', '--out', media], { TURSO_DATABASE_URL: url });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/--media-table names "tag", which is not a table of the database \(did you mean "Tag"\?/);
    expect(existsSync(media)).toBe(false);
  });
});

describe('verify-backup', () => {
  it('a good dump: exit 0', async () => {
    const r = await run('verify-backup', [dump]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok: /);
  });

  it('a corrupt dump: exit 3 (the check found a problem) with one line naming the table', async () => {
    const ls = dumpLines(gunzipFile(dump));
    const i = ls.findIndex((l) => l.startsWith('[') && l.includes('"Ada@Example.com"'));
    ls[i] = ls[i]!.replace('Ada@', 'Eve@');
    const bad = join(dirs.make(), 'bad.ndjson.gz');
    writeFileSync(bad, gzip(`${ls.join('\n')}\n`));
    const r = await run('verify-backup', [bad]);
    expect(r.code).toBe(3);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^verify-backup: error: .*table "User"/);
    noStack(r.stderr);
  });

  it('a missing file or no argument', async () => {
    const r = await run('verify-backup', [join(work, 'nope.gz')]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    const u = await run('verify-backup', []);
    expect(u.code).toBe(2);
  });
});

describe('restore-turso', () => {
  it('dry run: exit 0, the target is not created', async () => {
    const target = join(dirs.make(), 'dry.db');
    const r = await run('restore-turso', [dump], { TURSO_DATABASE_URL: `file:${target}` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dry run/);
    expect(r.stdout).toMatch(/--confirm/);
    expect(existsSync(target)).toBe(false);
    expect(listDir(dirname(target))).toEqual([]);
  });

  it('--confirm: exit 0, the target holds exactly the source', async () => {
    const target = join(dirs.make(), 'restored.db');
    const r = await run('restore-turso', [dump, '--confirm', '--json'], { TURSO_DATABASE_URL: `file:${target}` });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(lines(r.stdout).at(-1)!)).toMatchObject({ mode: 'restore', path: 'empty', verified: true });
    expect(diffDumps(source, dumpDb(target))).toEqual([]);
  });

  it('--confirm of a corrupt dump: exit 1, the target is not created', async () => {
    const bytes = readFileSync(dump);
    const cut = join(dirs.make(), 'cut.gz');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 50));
    const target = join(dirs.make(), 'never.db');
    const r = await run('restore-turso', [cut, '--confirm'], { TURSO_DATABASE_URL: `file:${target}` });
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    noStack(r.stderr);
    expect(existsSync(target)).toBe(false);
  });

  it('--confirm over a target that is the source: exit 1, refused', async () => {
    const before = sha256(readFileSync(src));
    const r = await run('restore-turso', [dump, '--confirm'], { TURSO_DATABASE_URL: url });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/own source/);
    expect(sha256(readFileSync(src))).toBe(before);
  });
});

describe('encrypted backups', () => {
  let enc: string;
  beforeAll(async () => {
    enc = join(dirs.make(), 'enc.ndjson.gz');
    const r = await run('backup-turso', ['--write', '--encrypt', '--out', enc, '--quiet'], { TURSO_DATABASE_URL: url, BACKUP_ENCRYPTION_KEY: KEY });
    expect(r.code, r.stderr).toBe(0);
  });

  it('writes the encrypted container, not gzip', () => {
    const head = readFileSync(enc).subarray(0, 8);
    expect(head.toString('latin1')).toBe('TBKENC01');
  });

  it('verify and restore read it transparently with the key', async () => {
    const v = await run('verify-backup', [enc, '--json'], { BACKUP_ENCRYPTION_KEY: KEY });
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(lines(v.stdout).at(-1)!)).toMatchObject({ ok: true, encrypted: true });
    const target = join(dirs.make(), 'from-enc.db');
    const r = await run('restore-turso', [enc, '--confirm'], { TURSO_DATABASE_URL: `file:${target}`, BACKUP_ENCRYPTION_KEY: KEY });
    expect(r.code, r.stderr).toBe(0);
    expect(diffDumps(source, dumpDb(target))).toEqual([]);
  });

  it('a wrong key: exit 1, "wrong key", nothing restored', async () => {
    const wrong = randomBytes(32).toString('hex');
    const v = await run('verify-backup', [enc], { BACKUP_ENCRYPTION_KEY: wrong });
    expect(v.code).toBe(1);
    expect(lines(v.stderr)).toHaveLength(1);
    expect(v.stderr).toMatch(/wrong key/);
    noStack(v.stderr);
    const target = join(dirs.make(), 'wrong.db');
    const r = await run('restore-turso', [enc, '--confirm'], { TURSO_DATABASE_URL: `file:${target}`, BACKUP_ENCRYPTION_KEY: wrong });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/wrong key/);
    expect(existsSync(target)).toBe(false);
  });

  it('no key: a clear error naming BACKUP_ENCRYPTION_KEY, for reading and for writing', async () => {
    const v = await run('verify-backup', [enc]);
    expect(v.code).not.toBe(0);
    expect(lines(v.stderr)).toHaveLength(1);
    expect(v.stderr).toMatch(/encrypted.*BACKUP_ENCRYPTION_KEY/);
    noStack(v.stderr);
    const target = join(dirs.make(), 'nokey.db');
    const r = await run('restore-turso', [enc, '--confirm'], { TURSO_DATABASE_URL: `file:${target}` });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/BACKUP_ENCRYPTION_KEY/);
    expect(existsSync(target)).toBe(false);
    const out = join(dirs.make(), 'never.ndjson.gz');
    const b = await run('backup-turso', ['--write', '--encrypt', '--out', out], { TURSO_DATABASE_URL: url });
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/BACKUP_ENCRYPTION_KEY is not set/);
    expect(listDir(dirname(out))).toEqual([]);
  });
});

describe('interruption', () => {
  // Node puts the signals' default action back while it tears a drained event loop down: a Ctrl-C in that window
  // killed a restore that had published and verified its target, and it exited 130, "interrupted". A finished
  // command exits at once instead (cli/run.ts). Here a preload keeps the main thread's event loop busy for ever,
  // as such a window: without the explicit exit the command never ends.
  it('a command that has finished exits then, with its own status, whatever still holds its event loop', async () => {
    const dir = dirs.make();
    const hold = join(dir, 'hold.mjs');
    writeFileSync(hold, "import { isMainThread } from 'node:worker_threads';\nif (isMainThread) setInterval(() => {}, 1000);\n");
    const target = join(dir, 'restored.db');
    const env = { TURSO_DATABASE_URL: `file:${target}`, NODE_OPTIONS: `--import ${pathToFileURL(hold).href}` };
    const child = spawn(process.execPath, ['--import', TSX, script('restore-turso'), dump, '--confirm', '--json'], {
      cwd: work,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? work, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: a command that hangs is killed with the alias that started it
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      process.kill(-child.pid!, 'SIGKILL');
    }, 30_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(timer);
    expect(hung, 'still running 30 s after it started').toBe(false);
    expect(code, stderr).toBe(0);
    expect(JSON.parse(lines(stdout).at(-1)!)).toMatchObject({ mode: 'restore', path: 'empty', verified: true });
    expect(diffDumps(source, dumpDb(target))).toEqual([]);
  }, 60_000);

  // Sent to the alias's process alone, as `kill PID` or a wrapper relaying a signal does (not to its process group).
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('%s during a backup leaves no dump, no manifest and no temp file', async (sig, code) => {
    const dbDir = dirs.make();
    const big = join(dbDir, 'big.db');
    buildBigDb(big, 200_000);
    const outDir = dirs.make();
    const out = join(outDir, 'big.ndjson.gz');
    const { child, done } = start('backup-turso', ['--write', '--out', out], { TURSO_DATABASE_URL: `file:${big}` }, work);
    // Wait until the dump is being written (its temp file exists), then interrupt.
    let sawPartial = false;
    for (let i = 0; i < 1500 && child.exitCode === null; i++) {
      if (readdirSync(outDir).some((f) => f.includes('.partial-'))) {
        sawPartial = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(sawPartial).toBe(true);
    child.kill(sig);
    const r = await done;
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(new RegExp(sig));
    expect(r.stderr).toMatch(/interrupted/);
    noStack(r.stderr);
    expect(listDir(outDir)).toEqual([]);
    expect(listDir(dbDir)).toEqual(['big.db']);
  });
});
