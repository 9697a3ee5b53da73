/**
 * `check-backups` as an operator runs it, on a local folder and on the Blob stand-in: a fresh store (exit 0, one
 * summary line), a stale, an incomplete and a shrunken one (exit 3, one line per problem), a damaged newest dump
 * with --verify, usage errors (2) and an unreadable store (1). Plus the pure rules.
 */
import Database from 'better-sqlite3';
import { appendFileSync, closeSync, copyFileSync, cpSync, openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latestLocalBackup } from '../../src/cli/drill.js';
import { evaluate, parseDuration, shrunk, tableChanges } from '../../src/monitor/check.js';
import type { BackupRecord } from '../../src/monitor/history.js';
import type { Manifest } from '../../src/format/lines.js';
import { backupAt, buildAppDb, DAY, redate, setRows, uploadStore } from '../support/backup-history.js';
import { tempDirs } from '../support/dumps.js';
import { lastJson, runScript } from '../support/scripts.js';
import { blobEnv, TOKEN, useBlobStore } from '../blob/helpers.js';

const dirs = tempDirs('tb-check-');
afterAll(() => dirs.cleanup());

const HOUR = 3_600_000;
/** Stores built once: fresh (2 backups, 2 h and 26 h old), then variants copied from it. */
const stores: Record<'fresh' | 'stale' | 'incomplete' | 'shrunk' | 'damaged', string> = {} as never;
/** The database behind the stores; after beforeAll its `users` table holds 10 rows (the shrunken state). */
let db: string;

beforeAll(async () => {
  const root = dirs.make();
  db = join(root, 'app.db');
  buildAppDb(db);
  stores.fresh = join(root, 'fresh');
  await backupAt(db, stores.fresh, new Date(Date.now() - 26 * HOUR));
  await backupAt(db, stores.fresh, new Date(Date.now() - 2 * HOUR));

  stores.stale = join(root, 'stale');
  cpSync(stores.fresh, stores.stale, { recursive: true });
  const staleManifests = readdirSync(stores.stale)
    .filter((n) => n.endsWith('.manifest.json'))
    .sort();
  staleManifests.forEach((f, i) => void redate(join(stores.stale, f), new Date(Date.now() - (staleManifests.length + 2 - i) * DAY)));

  stores.incomplete = join(root, 'incomplete');
  cpSync(stores.fresh, stores.incomplete, { recursive: true });
  const newest = readdirSync(stores.fresh)
    .filter((n) => n.endsWith('.ndjson.gz'))
    .sort()
    .pop()!;
  // A later run whose manifest was never written: its dump alone, named an hour later.
  copyFileSync(join(stores.fresh, newest), join(stores.incomplete, `backup-${new Date(Date.now() - HOUR).toISOString().replaceAll(':', '-')}.ndjson.gz`));

  stores.shrunk = join(root, 'shrunk');
  cpSync(stores.fresh, stores.shrunk, { recursive: true });
  const conn = new Database(db);
  setRows(conn, 'users', 10, (i) => [`user${i}@example.com`]); // 40 → 10
  conn.close();
  await backupAt(db, stores.shrunk, new Date(Date.now() - HOUR));

  stores.damaged = join(root, 'damaged');
  cpSync(stores.fresh, stores.damaged, { recursive: true });
  // Same size, one byte changed inside the gzip data: the manifest still matches the size, the bytes do not.
  const fd = openSync(join(stores.damaged, newest), 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, 200);
  b[0] = b[0]! ^ 0xff;
  writeSync(fd, b, 0, 1, 200);
  closeSync(fd);
});

const noBlob = { BLOB_READ_WRITE_TOKEN: undefined, BACKUP_ENCRYPTION_KEY: undefined };
const check = (args: string[], env: Record<string, string | undefined> = noBlob) => runScript('check-backups', args, env);
const problemLines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter((l) => /^[A-Z_]+: /.test(l));

describe('check-backups on a local folder', () => {
  it('fresh: exit 0 and one summary line', async () => {
    const r = await check(['--dir', stores.fresh, '--max-age', '26h', '--verify']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ok: newest backup .*backup-.*\.ndjson\.gz is 2 h \d+ min old \(limit 1 d 2 h\), complete, verified: 3 tables, 170 rows, /);
  });

  it('stale: exit 3, STALE', async () => {
    const r = await check(['--dir', stores.stale, '--max-age', '26h']);
    expect(r.code).toBe(3);
    expect(problemLines(r.stdout)).toEqual([expect.stringMatching(/^STALE: the newest complete backup .* is 3 d 0 h old, over the 1 d 2 h limit$/)]);
  });

  it('incomplete: exit 3, INCOMPLETE naming the dump without a manifest', async () => {
    const r = await check(['--dir', stores.incomplete]);
    expect(r.code).toBe(3);
    expect(problemLines(r.stdout)).toEqual([expect.stringMatching(/^INCOMPLETE: .*backup-.*\.ndjson\.gz \(.*\) is incomplete: no manifest/)]);
  });

  it('a newest dump that grew after its run completed: INCOMPLETE saying so, not that the run did not finish', async () => {
    const grown = join(dirs.make(), 'grown');
    cpSync(stores.fresh, grown, { recursive: true });
    const newest = readdirSync(grown)
      .filter((n) => n.endsWith('.ndjson.gz'))
      .sort()
      .pop()!;
    appendFileSync(join(grown, newest), 'appended');
    const r = await check(['--dir', grown, '--max-age', '48h']);
    expect(r.code).toBe(3);
    const [line, ...rest] = problemLines(r.stdout);
    expect(rest).toEqual([]);
    expect(line).toMatch(/^INCOMPLETE: .* is incomplete: its size \d+ differs from the manifest's \d+ \(the file was changed after its run completed\)$/);
    expect(line).not.toMatch(/did not finish/);
  });

  it('a newest dump deleted with its manifest left behind: INCOMPLETE saying the dump is missing; drill takes the one before', async () => {
    const gone = join(dirs.make(), 'gone');
    cpSync(stores.fresh, gone, { recursive: true });
    const dumps = readdirSync(gone)
      .filter((n) => n.endsWith('.ndjson.gz'))
      .sort();
    rmSync(join(gone, dumps.at(-1)!));
    const r = await check(['--dir', gone, '--max-age', '48h']);
    expect(r.code).toBe(3);
    expect(problemLines(r.stdout)).toEqual([
      expect.stringMatching(/^INCOMPLETE: .*backup-.*\.ndjson\.gz \(.*\) is incomplete: the dump is missing \(only its manifest remains\)$/),
    ]);
    // The drill's search for the latest backup never picks a dump that is not there.
    expect(latestLocalBackup(gone)).toBe(join(gone, dumps[0]!));
  });

  it('shrunken: exit 3, SHRUNK for the table that lost rows; a lower ratio accepts it; --json', async () => {
    const r = await check(['--dir', stores.shrunk, '--min-rows-ratio', '0.9', '--json']);
    expect(r.code).toBe(3);
    const j = lastJson(r.stdout);
    expect(j.problems).toEqual([{ code: 'SHRUNK', message: expect.stringMatching(/^table "users" has 10 rows in .* against 40 in the previous backup/) }]);
    expect(j.ok).toBe(false);
    expect(r.stderr).toMatch(/^SHRUNK: table "users"/m);
    const lenient = await check(['--dir', stores.shrunk, '--min-rows-ratio', '0.2']);
    expect(lenient.code, lenient.stdout).toBe(0);
  });

  it('--verify finds a damaged newest dump (exit 3, VERIFY); without it the store looks fine', async () => {
    const r = await check(['--dir', stores.damaged, '--verify']);
    expect(r.code).toBe(3);
    expect(problemLines(r.stdout)).toEqual([expect.stringMatching(/^VERIFY: .*backup-.*\.ndjson\.gz (fails verification|does not match its manifest)/)]);
    expect((await check(['--dir', stores.damaged])).code).toBe(0);
  });

  it('a backup dated in the future: FUTURE of its own, and the real newest one still shows its SHRUNK', async () => {
    const skewed = join(dirs.make(), 'skewed');
    cpSync(stores.shrunk, skewed, { recursive: true });
    // Made on a host whose clock ran a year ahead (the rows are the fresh ones: 40 users).
    const ahead = new Date(Date.now() + 365 * DAY);
    const fresh = readdirSync(stores.fresh)
      .filter((n) => n.endsWith('.ndjson.gz'))
      .sort()
      .pop()!;
    const name = `backup-${ahead.toISOString().replaceAll(':', '-')}.ndjson.gz`;
    copyFileSync(join(stores.fresh, fresh), join(skewed, name));
    copyFileSync(join(stores.fresh, `${fresh}.manifest.json`), join(skewed, `${name}.manifest.json`));
    redate(join(skewed, `${name}.manifest.json`), ahead);
    const r = await check(['--dir', skewed, '--json']);
    expect(r.code).toBe(3);
    const j = lastJson(r.stdout);
    expect(j.problems.map((p: { code: string }) => p.code)).toEqual(['FUTURE', 'SHRUNK']);
    expect(j.problems[0].message).toMatch(new RegExp(`${name} is dated ${ahead.toISOString().slice(0, 10)}.*in the future .*clock.*ahead`));
    expect(j.newest.name).not.toContain(name);
    expect(j.newest.ageMs).toBeGreaterThan(50 * 60_000);
  });

  it('a loss stays SHRUNK when another backup follows the shrunken one within --max-age', async () => {
    const twice = join(dirs.make(), 'twice');
    cpSync(stores.shrunk, twice, { recursive: true });
    await backupAt(db, twice, new Date(Date.now() - HOUR / 2)); // the cron fired twice: users still 10
    const r = await check(['--dir', twice]);
    expect(r.code, r.stdout).toBe(3);
    expect(problemLines(r.stdout)).toEqual([expect.stringMatching(/^SHRUNK: table "users" has 10 rows in .*, against 40 in .*backup-.*\.ndjson\.gz/)]);
  });

  it('--quiet drops the ok line but never the problem lines', async () => {
    const ok = await check(['--dir', stores.fresh, '--quiet']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('');
    const r = await check(['--dir', stores.stale, '--max-age', '26h', '--quiet']);
    expect(r.code).toBe(3);
    expect(r.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^STALE: /)]);
  });

  it('usage errors exit 2; an unreadable store exits 1', async () => {
    for (const args of [
      ['--dir', stores.fresh, '--max-age', 'soon'],
      ['--dir', stores.fresh, '--min-rows-ratio', '2'],
      [],
      ['--dir', stores.fresh, '--blob'],
    ]) {
      const r = await check(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const missing = await check(['--dir', join(stores.fresh, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/is not a folder/);
  });
});

describe('check-backups on the Blob stand-in', () => {
  const server = useBlobStore(() => dirs.make());
  const files = (dir: string) => readdirSync(dir).map((n) => join(dir, n));

  it('fresh (verified by streaming download), then stale, incomplete and shrunken', async () => {
    await uploadStore(files(stores.fresh), TOKEN);
    const env = { ...blobEnv(server()), BACKUP_ENCRYPTION_KEY: undefined };
    const ok = await check(['--verify', '--json'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(lastJson(ok.stdout)).toMatchObject({ ok: true, store: 'Vercel Blob store (backups/)', newest: { verified: true, tables: 3 }, problems: [] });
    expect(server().stats.requests.download).toBeGreaterThan(0);

    await uploadStore(files(stores.stale), TOKEN);
    expect(problemLines((await check(['--blob'], env)).stdout)).toEqual([expect.stringMatching(/^STALE: /)]);

    await uploadStore(files(stores.incomplete), TOKEN); // the fresh manifests again, and a dump without one
    const inc = await check([], env);
    expect(inc.code).toBe(3);
    expect(problemLines(inc.stdout)).toEqual([expect.stringMatching(/^INCOMPLETE: backups\/backup-.* is incomplete: no manifest/)]);
  });

  it('a manifest whose dump blob is gone: INCOMPLETE saying the dump is missing', async () => {
    const gone = join(dirs.make(), 'gone-blob');
    cpSync(stores.fresh, gone, { recursive: true });
    const dump = readdirSync(gone)
      .filter((n) => n.endsWith('.ndjson.gz'))
      .sort()
      .at(-1)!;
    rmSync(join(gone, dump));
    await uploadStore(files(gone), TOKEN); // a fresh store for each test
    const r = await check(['--max-age', '48h'], { ...blobEnv(server()) });
    expect(r.code, r.stderr).toBe(3);
    const lines = problemLines(r.stdout);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(`INCOMPLETE: backups/${dump} (${lines[0]!.match(/\((\S+)\)/)![1]}) is incomplete: the dump is missing (only its manifest remains)`);
  });

  it('shrunken', async () => {
    await uploadStore(files(stores.shrunk), TOKEN);
    const r = await check([], { ...blobEnv(server()) });
    expect(r.code).toBe(3);
    expect(problemLines(r.stdout)).toEqual([expect.stringMatching(/^SHRUNK: table "users" has 10 rows in backups\//)]);
  });

  it('a refused token exits 1 (the store cannot be read) and does not print it', async () => {
    const r = await check([], { ...blobEnv(server()), BLOB_READ_WRITE_TOKEN: 'vercel_blob_rw_teststore_WrongSecret' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/access denied/);
    expect(r.stderr).not.toContain('WrongSecret');
  });
});

describe('the rules', () => {
  const m = (tables: Record<string, number>, selection: Manifest['selection'] = { tables: null, excludeTables: [] }) =>
    ({ tables: Object.fromEntries(Object.entries(tables).map(([k, rows]) => [k, { rows, sha256: '' }])), selection, totalRows: 0 }) as unknown as Manifest;
  const rec = (name: string, hoursAgo: number, manifest?: Manifest): BackupRecord => ({
    name,
    createdAt: new Date(Date.now() - hoursAgo * HOUR).toISOString(),
    size: 1,
    complete: manifest !== undefined,
    manifest,
    drills: [],
  });

  it('durations', () => {
    expect(parseDuration('26h')).toBe(26 * HOUR);
    expect(parseDuration('1d12h')).toBe(36 * HOUR);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    for (const bad of ['', '26', 'h', '0h', '26x', '1d 2']) expect(() => parseDuration(bad), bad).toThrow(/--max-age/);
  });

  it('a dropped table is a shrink; one excluded by the selection is not; ratio 0 disables', () => {
    const changes = tableChanges(m({ a: 5 }, { tables: null, excludeTables: ['c'] }), m({ a: 10, b: 3, c: 7 }));
    expect(changes.map((c) => `${c.table}:${c.status}`)).toEqual(['a:shrank', 'b:dropped', 'c:excluded']);
    expect(shrunk(changes, 0.9).map((c) => c.table)).toEqual(['a', 'b']);
    expect(shrunk(changes, 0)).toEqual([]);
  });

  it('a table left with one row is "1 row", not "1 rows"', () => {
    const v = evaluate([rec('new', 1, m({ a: 1 })), rec('old', 25, m({ a: 40 }))], { maxAgeMs: 2 * DAY, minRowsRatio: 0.9 });
    expect(v.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^table "a" has 1 row in new, against 40 in the previous backup/)]);
  });

  it('a backup dated over 5 min ahead is FUTURE and not the newest; one a minute ahead is trusted', () => {
    const recs = [rec('ahead', -365 * 24, m({ a: 40 })), rec('new', 30, m({ a: 40 })), rec('old', 54, m({ a: 40 }))];
    const v = evaluate(recs, { maxAgeMs: DAY, minRowsRatio: 0.9 });
    expect(v.problems.map((p) => p.code)).toEqual(['STALE', 'FUTURE']);
    expect(v.problems[1]!.message).toMatch(/^ahead is dated .* 365 d 0 h in the future \(a clock ahead\?\): not counted as the newest backup$/);
    expect(v.newest?.name).toBe('new');
    expect(v.previous?.name).toBe('old');
    const onlyFuture = evaluate([rec('ahead', -2, m({ a: 1 }))], { maxAgeMs: DAY, minRowsRatio: 0.9 });
    expect(onlyFuture.problems.map((p) => p.code)).toEqual(['NO_BACKUP', 'FUTURE']);
    const slightly = evaluate([rec('skew', -1 / 60, m({ a: 1 })), rec('old', 2, m({ a: 1 }))], { maxAgeMs: DAY, minRowsRatio: 0.9 });
    expect(slightly.ok).toBe(true);
    expect(slightly.newest?.name).toBe('skew');
  });

  it('SHRUNK compares with the largest count in the --max-age window before the newest, else the one before', () => {
    const opts = { maxAgeMs: 26 * HOUR, minRowsRatio: 0.9 };
    const inWindow = evaluate([rec('c', 1, m({ a: 0 })), rec('b', 2, m({ a: 0 })), rec('a', 20, m({ a: 40 }))], opts);
    expect(inWindow.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/^table "a" has 0 rows in c, against 40 in a \(.*\) \(below the 0.9 ratio\)$/),
    ]);
    expect(inWindow.previous?.name).toBe('b');
    // The fuller backup is 29 h before the newest: out of the window, so the one before (0 rows) is the baseline.
    expect(evaluate([rec('c', 1, m({ a: 0 })), rec('b', 2, m({ a: 0 })), rec('a', 30, m({ a: 40 }))], opts).ok).toBe(true);
    // None in the window: the one immediately before, however old.
    const gap = evaluate([rec('c', 1, m({ a: 0 })), rec('a', 100, m({ a: 40 }))], { ...opts, maxAgeMs: 2 * HOUR });
    expect(gap.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^table "a" has 0 rows in c, against 40 in the previous backup/)]);
  });

  it('a vanished table is "missing from NAME, against N rows in …"; sqlite_sequence is never SHRUNK', () => {
    const v = evaluate([rec('new', 1, m({ sqlite_sequence: 2 })), rec('old', 25, m({ AuditLog: 40, sqlite_sequence: 3 }))], {
      maxAgeMs: 2 * DAY,
      minRowsRatio: 0.9,
    });
    expect(v.problems.map((p) => p.message)).toEqual(['table "AuditLog" is missing from new, against 40 rows in the previous backup (below the 0.9 ratio)']);
  });

  it('no backup at all; an incomplete dump older than the newest complete one is not a problem', () => {
    expect(evaluate([], { maxAgeMs: DAY, minRowsRatio: 0.9 }).problems.map((p) => p.code)).toEqual(['NO_BACKUP']);
    expect(evaluate([rec('x', 1)], { maxAgeMs: DAY, minRowsRatio: 0.9 }).problems.map((p) => p.code)).toEqual(['NO_BACKUP', 'INCOMPLETE']);
    const v = evaluate([rec('new', 1, m({ a: 1 })), rec('old-incomplete', 30), rec('old', 48, m({ a: 1 }))], { maxAgeMs: DAY, minRowsRatio: 0.9 });
    expect(v.ok).toBe(true);
    expect(v.previous?.name).toBe('old');
  });
});
