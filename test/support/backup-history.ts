/**
 * Stores with a history, for the monitor's tests: real backups (the real pipeline, the real file sink, the real run
 * tracker that adds the run summary to each manifest) of a database that changes between them, then dated as if
 * they had been made on consecutive days (a history cannot be waited for). Also: a stale, an incomplete and a
 * shrunken store, locally or in the Blob stand-in.
 */
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { put } from '@vercel/blob';
import { backup } from '../../src/backup/backup.js';
import { startRun } from '../../src/monitor/run.js';
import { fileSink } from '../../src/sink/file.js';

export const DAY = 86_400_000;

/** A small app-shaped database: users, posts, audit (rows grow with `scale`). */
export function buildAppDb(path: string, scale = 1): void {
  const db = new Database(path);
  try {
    db.exec(
      'CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT); CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY, title TEXT, body TEXT); CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, what TEXT)',
    );
    setRows(db, 'users', 40 * scale, (i) => [`user${i}@example.com`]);
    setRows(db, 'posts', 100 * scale, (i) => [`post ${i}`, `body ${i} `.repeat(20)]);
    setRows(db, 'audit', 30 * scale, (i) => [`event ${i}`]);
  } finally {
    db.close();
  }
}

/** Makes `table` hold exactly `n` rows with ids 1..n (deleting above, inserting below). */
export function setRows(db: Database.Database, table: string, n: number, cols: (i: number) => unknown[]): void {
  db.transaction(() => {
    db.prepare(`DELETE FROM ${table} WHERE id > ?`).run(BigInt(Math.floor(n)));
    const have = Number((db.prepare(`SELECT count(*) AS c FROM ${table}`).get() as { c: number }).c);
    const width = cols(0).length;
    const ins = db.prepare(`INSERT INTO ${table} VALUES (?${', ?'.repeat(width)})`);
    for (let i = have + 1; i <= n; i++) ins.run(BigInt(i), ...cols(i));
  })();
}

const stampOf = (d: Date) => d.toISOString().replaceAll(':', '-');

/** Rewrites a manifest's times as if the run had started at `at` (its duration kept). */
export function redate(manifestPath: string, at: Date): void {
  const m = JSON.parse(readFileSync(manifestPath, 'utf8'));
  m.createdAt = at.toISOString();
  if (m.run) {
    m.run.startedAt = at.toISOString();
    m.run.finishedAt = new Date(at.getTime() + m.run.durationMs).toISOString();
  }
  writeFileSync(manifestPath, `${JSON.stringify(m, null, 2)}\n`);
}

/** One real backup of `db` into `dir`, named and dated `at`. Returns the dump's path. */
export async function backupAt(db: string, dir: string, at: Date): Promise<string> {
  const path = join(dir, `backup-${stampOf(at)}.ndjson.gz`);
  await backup({ url: `file:${db}` }, startRun('cli').track(fileSink(path)));
  redate(`${path}.manifest.json`, at);
  return path;
}

/**
 * `n` daily backups ending `endAgoMs` before now, of a database that grows a little every day (and whose `audit`
 * table is trimmed weekly, so the charts are not straight lines). Returns the dump paths, oldest first.
 */
export async function buildHistory(db: string, dir: string, n: number, endAgoMs = 2 * 3_600_000): Promise<string[]> {
  const end = Date.now() - endAgoMs;
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const conn = new Database(db);
    try {
      setRows(conn, 'users', 40 + i * 3, (k) => [`user${k}@example.com`]);
      setRows(conn, 'posts', 100 + i * 9 + (i % 4) * 5, (k) => [`post ${k}`, `body ${k} `.repeat(20)]);
      setRows(conn, 'audit', 30 + (i % 7) * 12, (k) => [`event ${k}`]);
    } finally {
      conn.close();
    }
    paths.push(await backupAt(db, dir, new Date(end - (n - 1 - i) * DAY)));
  }
  return paths;
}

/** Copies a local store's dumps, manifests and drill records into the Blob stand-in under `backups/`. */
export async function uploadStore(files: string[], token: string): Promise<void> {
  for (const f of files) {
    const name = f.split('/').pop()!;
    await put(`backups/${name}`, readFileSync(f), { access: 'private', addRandomSuffix: false, allowOverwrite: true, token });
  }
}
