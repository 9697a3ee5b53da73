/**
 * The local store takes every `….ndjson.gz` dump, whatever its name (`backup --out backups/today.ndjson.gz`, the
 * library's `out: backups/prod-<ms>.ndjson.gz`), never a sidecar, a drill record or what a running backup writes;
 * and `check --dir`, `report --dir` and `drill --dir` all see the same dumps.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDumpName, localStore } from '../../src/monitor/history.js';
import { fileSink } from '../../src/sink/file.js';
import { DAY, redate } from '../support/backup-history.js';
import { backupToFile, buildTinyDb, tempDirs } from '../support/dumps.js';
import { lastJson, runCli } from '../support/scripts.js';

const dirs = tempDirs('tb-local-store-');
afterAll(() => dirs.cleanup());

const clean = { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined, BLOB_READ_WRITE_TOKEN: undefined, BACKUP_ENCRYPTION_KEY: undefined };
let db: string;
/** A folder as a new user makes it: dumps named freely, one in a subfolder, one without its manifest. */
let store: string;
const LOOSE_MTIME = new Date(Date.now() - 10 * DAY);

beforeAll(async () => {
  const root = dirs.make();
  db = join(root, 'app.db');
  buildTinyDb(db);
  store = join(root, 'backups');
  mkdirSync(join(store, 'prod'), { recursive: true });
  await backupToFile(db, join(store, 'today.ndjson.gz'));
  const old = join(store, 'prod', `prod-${Date.now()}.ndjson.gz`);
  await backupToFile(db, old);
  redate(`${old}.manifest.json`, new Date(Date.now() - 3 * DAY));
  // A dump whose manifest is gone: incomplete, dated by its mtime (no manifest, no time in its name).
  copyFileSync(join(store, 'today.ndjson.gz'), join(store, 'loose.ndjson.gz'));
  utimesSync(join(store, 'loose.ndjson.gz'), LOOSE_MTIME, LOOSE_MTIME);
  // Not dumps: a drill record, a manifest's temporary file, a macOS resource fork.
  writeFileSync(join(store, 'today.ndjson.gz.drill-2026-01-01T00-00-00.000Z-abcdef.json'), '{}');
  writeFileSync(join(store, '.today.ndjson.gz.manifest.json.tmp-0123abcd'), '{}');
  writeFileSync(join(store, '._today.ndjson.gz'), 'x');
});

describe('the local store', () => {
  it('takes every *.ndjson.gz dump, dated by its manifest, else its name, else its mtime', async () => {
    const records = await localStore(store).list();
    expect(records.map((r) => r.name)).toEqual([
      join(store, 'today.ndjson.gz'),
      expect.stringMatching(/prod\/prod-\d+\.ndjson\.gz$/),
      join(store, 'loose.ndjson.gz'),
    ]);
    expect(records.map((r) => r.complete)).toEqual([true, true, false]);
    expect(records[2]!.problem).toMatch(/no manifest/);
    expect(records[2]!.createdAt).toBe(LOOSE_MTIME.toISOString());
    expect(Date.parse(records[1]!.createdAt)).toBeLessThan(Date.now() - 2 * DAY);
  });

  it('never takes a sidecar, a drill record or a temporary file', () => {
    expect(isDumpName('today.ndjson.gz')).toBe(true);
    expect(isDumpName('backup-2026-01-01T00-00-00.000Z.ndjson.gz')).toBe(true);
    for (const name of [
      'today.ndjson.gz.manifest.json',
      'today.ndjson.gz.drill-2026-01-01T00-00-00.000Z-abcdef.json',
      '.today.ndjson.gz.partial-123-0123abcd',
      '.today.ndjson.gz.manifest.json.tmp-0123abcd',
      '._today.ndjson.gz',
      'today.json',
    ])
      expect(isDumpName(name), name).toBe(false);
  });

  it('does not count a backup still being written (its partial file) as a dump', async () => {
    const d = dirs.make();
    await backupToFile(db, join(d, 'first.ndjson.gz'));
    const sink = fileSink(join(d, 'running.ndjson.gz'));
    await sink.open();
    try {
      await sink.write(Buffer.from('partial bytes'));
      expect(readdirSync(d).some((n) => n.includes('.partial-'))).toBe(true);
      expect((await localStore(d).list()).map((r) => r.name)).toEqual([join(d, 'first.ndjson.gz')]);
    } finally {
      await sink.abort();
    }
  });
});

describe('check, report and drill --dir see dumps of any name', () => {
  it('check --dir: the newest is today.ndjson.gz, fresh and complete', async () => {
    const r = await runCli(['check', '--dir', store, '--max-age', '26h', '--json'], clean);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain(`ok: newest backup ${join(store, 'today.ndjson.gz')}`);
    expect(lastJson(r.stdout)).toMatchObject({
      ok: true,
      newest: { name: join(store, 'today.ndjson.gz') },
      previous: expect.stringMatching(/prod-\d+\.ndjson\.gz$/),
    });
  });

  it('report --dir: all three dumps are on the page', async () => {
    const html = join(dirs.make(), 'status.html');
    const r = await runCli(['report', '--dir', store, '--html', html, '--json'], clean);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ backups: 3 });
  });

  it('drill --dir: drills the newest complete dump, and records it beside it', async () => {
    const d = dirs.make();
    await backupToFile(db, join(d, 'older.ndjson.gz'));
    redate(join(d, 'older.ndjson.gz.manifest.json'), new Date(Date.now() - DAY));
    await backupToFile(db, join(d, 'newer.ndjson.gz'));
    // Newer still, but no manifest: not a complete backup, not drilled.
    copyFileSync(join(d, 'newer.ndjson.gz'), join(d, 'newest-unfinished.ndjson.gz'));
    const r = await runCli(['drill', '--dir', d, '--json'], clean);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ pass: true, source: join(d, 'newer.ndjson.gz') });
    expect(readdirSync(d).filter((n) => n.startsWith('newer.ndjson.gz.drill-'))).toHaveLength(1);
    expect(existsSync(join(d, 'newest-unfinished.ndjson.gz.manifest.json'))).toBe(false);
  });
});
