/**
 * Faults read as well as bad input (issue 14). A full disk is a real one: a small tmpfs mounted in a private mount
 * namespace (`unshare -m`, or `unshare -rm` as an unprivileged user) for the length of one command, so the kernel
 * answers ENOSPC and SQLite SQLITE_FULL as they would on a full volume. A backup killed with SIGKILL leaves its
 * partial file; the next backup names it and --clean-partials removes it (never one a running backup writes).
 */
import Database from 'better-sqlite3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryPoint, NODE_FLAGS } from '../scripts/lib/launch.mjs';
import { listDir, tempDirs } from './support/dumps.js';
import { buildBigDb } from './support/nasty-db.js';
import { lastJson, runCli } from './support/scripts.js';

const dirs = tempDirs('tb-faults-');
const clean = { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined, DEBUG: undefined };
let entry: string;
let src: string; // ~3 MB of incompressible rows: its dump does not fit in 1 MiB
let dump: string;

beforeAll(async () => {
  entry = await entryPoint();
  const dir = dirs.make();
  src = join(dir, 'src.db');
  const db = new Database(src);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b BLOB)');
  const ins = db.prepare('INSERT INTO t (a, b) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < 10_000; i++) ins.run(randomBytes(50).toString('hex'), randomBytes(200));
  })();
  db.close();
  dump = join(dir, 'src.ndjson.gz');
  expect((await runCli(['backup', '--db', `file:${src}`, '--write', '--out', dump, '--quiet'], clean)).code).toBe(0);
});
afterAll(() => dirs.cleanup());

/** How this machine can mount a private tmpfs: as root (`unshare -m`), in a user namespace (`-rm`), or not at all. */
function namespaceFlags(): string[] | null {
  const probe = dirs.make();
  for (const flags of [['-m'], ['-r', '-m']]) {
    const r = spawnSync('unshare', [...flags, 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs "$0"', probe], { stdio: 'ignore' });
    if (r.status === 0) return flags;
  }
  return null;
}
const NS = namespaceFlags();

interface FullDiskRun {
  code: number;
  stdout: string;
  stderr: string;
  /** What was on the small disk after the command. */
  left: string[];
  /** The size of each file left there. */
  sizes: Record<string, number>;
}

/**
 * Runs `turso-backup <args>` with a `size` tmpfs mounted at `mnt` (private to this command), then lists `mnt`.
 * `emptyFile`: a file of that name is made there first, empty (a target the restore loads in place).
 */
function onFullDisk(mnt: string, size: string, args: string[], emptyFile = ''): Promise<FullDiskRun> {
  const script =
    'mount -t tmpfs -o size="$1" tmpfs "$0" || exit 99; shift; if [ -n "$EMPTY_FILE" ]; then : > "$0/$EMPTY_FILE"; fi; "$@"; rc=$?; echo "@@exit=$rc" >&2; for f in "$0"/.* "$0"/*; do [ -f "$f" ] && echo "@@file=$f" >&2 && echo "@@size=$f:$(wc -c < "$f")" >&2; done';
  const child = spawn('unshare', [...NS!, 'sh', '-c', script, mnt, size, process.execPath, entry, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', EMPTY_FILE: emptyFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      const marks = stderr.split('\n').filter((l) => l.startsWith('@@'));
      const left = marks
        .filter((l) => l.startsWith('@@file='))
        .map((l) => l.slice(7).replace(`${mnt}/`, ''))
        .filter((f) => !['.', '..', '.*', '*'].includes(f));
      const code = Number(marks.find((l) => l.startsWith('@@exit='))?.slice(7) ?? -1);
      const sizes = Object.fromEntries(
        marks
          .filter((l) => l.startsWith('@@size='))
          .map((l) => [l.slice(7, l.lastIndexOf(':')).replace(`${mnt}/`, ''), Number(l.slice(l.lastIndexOf(':') + 1))]),
      );
      resolve({
        code,
        sizes,
        stdout,
        stderr: stderr
          .split('\n')
          .filter((l) => !l.startsWith('@@'))
          .join('\n'),
        left,
      });
    });
  });
}

describe.skipIf(!NS)('a full disk (a real 1 MiB tmpfs)', () => {
  it('backup: names the device, says how much was written, leaves nothing; --json says NO_SPACE', async () => {
    const mnt = dirs.make();
    const r = await onFullDisk(mnt, '1m', ['backup', '--db', `file:${src}`, '--write', '--out', `${mnt}/nightly.ndjson.gz`, '--json']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^turso-backup backup: error: no space left on the device holding ${mnt} \\(1\\.0 MiB\\): the disk filled up after [\\d.]+ (KiB|MiB) of nightly\\.ndjson\\.gz were written; its partial file \\.nightly\\.ndjson\\.gz\\.partial-\\d+-[0-9a-f]{8} was removed: nothing was left behind$`,
        'm',
      ),
    );
    expect(r.stderr).not.toMatch(/unexpected error|ENOSPC: no space left on device, write/);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'NO_SPACE' });
    expect(r.left).toEqual([]);
  });

  it('restore into a new file: target: names the device and how far the load got, leaves nothing', async () => {
    const mnt = dirs.make();
    const r = await onFullDisk(mnt, '1m', ['restore', dump, '--target', `file:${mnt}/restored.db`, '--confirm', '--json']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^turso-backup restore: error: no space left on the device holding ${mnt} \\(1\\.0 MiB\\): the restore into ${mnt}/restored\\.db stopped (after [\\d,]+ of 10,000 rows were loaded|before any row was loaded); it was rolled back and its scratch file was removed: nothing was left behind$`,
        'm',
      ),
    );
    expect(r.stderr).not.toMatch(/unexpected error|database or disk is full/);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'NO_SPACE' });
    expect(r.left).toEqual([]);
  });
});

describe.skipIf(!NS)('a full disk under a target loaded in place', () => {
  it('restore into an existing empty file: rolled back for real, the file empty again and no journal left', async () => {
    const mnt = dirs.make();
    const r = await onFullDisk(mnt, '1m', ['restore', dump, '--target', `file:${mnt}/e.db`, '--confirm', '--json'], 'e.db');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/rolled back/);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'NO_SPACE' });
    expect(r.left).toEqual(['e.db']);
    expect(r.sizes).toEqual({ 'e.db': 0 });
  });
});

describe('a file size limit under a target loaded in place (an I/O error, not a full disk)', () => {
  it('restore into an existing empty file: SQLite leaves its journal hot; the restore rolls it back before it says so', async () => {
    const dir = dirs.make();
    const target = join(dir, 'e.db');
    writeFileSync(target, '');
    // `ulimit -f` (1 KiB blocks): the file may not grow past 1 MiB, and the write that would fails with EFBIG.
    const r = spawnSync(
      'sh',
      ['-c', 'ulimit -f 1024; exec "$@"', 'sh', process.execPath, ...NODE_FLAGS, entry, 'restore', dump, '--target', `file:${target}`, '--confirm'],
      {
        env: { ...process.env, ...clean },
        encoding: 'utf8',
      },
    );
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/rolled back and the target is as it was/);
    expect(listDir(dir)).toEqual(['e.db']);
    expect(statSync(target).size).toBe(0);
  });
});

describe('partial dumps of killed backups', () => {
  /** Starts a backup of `db` into `out` and resolves once its partial file exists. */
  async function startWriting(db: string, out: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, [...NODE_FLAGS, entry, 'backup', '--db', `file:${db}`, '--write', '--out', out, '--quiet'], {
      env: { ...process.env, ...clean },
      stdio: 'ignore',
    });
    const dir = join(out, '..');
    for (let i = 0; i < 1500 && child.exitCode === null; i++) {
      if (existsSync(dir) && readdirSync(dir).some((f) => f.includes('.partial-'))) return child;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('the backup never started writing');
  }
  const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

  it('kill -9 leaves .NAME.partial-*; the next backup names it; --clean-partials removes it', async () => {
    const big = join(dirs.make(), 'big.db');
    buildBigDb(big, 200_000);
    const out = dirs.make();
    const killed = await startWriting(big, join(out, 'a.ndjson.gz'));
    killed.kill('SIGKILL');
    await exited(killed);
    const partial = listDir(out).find((f) => f.startsWith('.a.ndjson.gz.partial-'));
    expect(partial, listDir(out).join(', ')).toMatch(new RegExp(`^\\.a\\.ndjson\\.gz\\.partial-${killed.pid}-[0-9a-f]{8}$`));

    const next = await runCli(['backup', '--db', `file:${src}`, '--write', '--out', join(out, 'b.ndjson.gz')], clean);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toContain(`warning: ${join(out, partial!)} (`);
    expect(next.stdout).toMatch(/is left from an interrupted backup: --clean-partials removes it/);
    expect(listDir(out)).toContain(partial);

    const cleaned = await runCli(['backup', '--db', `file:${src}`, '--write', '--out', join(out, 'c.ndjson.gz'), '--clean-partials', '--json'], clean);
    expect(cleaned.code, cleaned.stderr).toBe(0);
    expect(lastJson(cleaned.stdout)).toMatchObject({ removedPartials: [join(out, partial!)], warnings: [] });
    expect(cleaned.stderr).toContain(`removed ${join(out, partial!)}`);
    expect(listDir(out)).toEqual(['b.ndjson.gz', 'b.ndjson.gz.manifest.json', 'c.ndjson.gz', 'c.ndjson.gz.manifest.json']);
  });

  it('a partial file a running backup is writing is named as such and never removed', async () => {
    const big = join(dirs.make(), 'big.db');
    buildBigDb(big, 300_000);
    const out = dirs.make();
    const running = await startWriting(big, join(out, 'slow.ndjson.gz'));
    try {
      const r = await runCli(['backup', '--db', `file:${src}`, '--write', '--out', join(out, 'quick.ndjson.gz'), '--clean-partials', '--json'], clean);
      expect(r.code, r.stderr).toBe(0);
      const summary = lastJson(r.stdout);
      expect(summary.removedPartials).toEqual([]);
      // 300k rows take seconds to write; the scan runs while they are written.
      expect(summary.warnings.join('\n')).toMatch(
        new RegExp(`slow\\.ndjson\\.gz\\.partial-${running.pid}-[0-9a-f]{8} \\(.*\\) is being written by process ${running.pid}, another backup`),
      );
    } finally {
      await exited(running);
    }
    expect(running.exitCode).toBe(0);
    expect(listDir(out)).toEqual(['quick.ndjson.gz', 'quick.ndjson.gz.manifest.json', 'slow.ndjson.gz', 'slow.ndjson.gz.manifest.json']);
  });
});
