/**
 * `npm run bench -- --only remote`: backup and restore of a 200k-row database over HTTP (Hrana) through the
 * stand-in sqld, at 0 ms and at 50 ms added latency per request. The stand-in runs as its own process (as sqld
 * would), our commands run as the CLI does. Target: 50 ms ≤ 1.5× the 0 ms time, for backup and for restore.
 * Runs alternate between the two latencies so that drift of the machine's speed hits both alike.
 */
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { measure, median } from './measure.js';

const ROWS = 200_000;
const LATENCIES = [0, 50] as const;
const TOKEN = 'bench-token-not-secret';

interface Ctx {
  say: (s: string) => void;
  runs: number;
  db1: string;
  work: string;
}

/** The first 200k rows of db1's Event table in a database of their own (no foreign key to User). */
function buildRemoteDb(db1: string, path: string): void {
  if (existsSync(path)) return;
  const tmp = `${path}.tmp`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  try {
    db.pragma('journal_mode = OFF');
    db.exec(`ATTACH DATABASE '${db1.replaceAll("'", "''")}' AS src`);
    db.exec(`CREATE TABLE "Event" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "userId" TEXT NOT NULL, "type" TEXT NOT NULL,
      "payload" TEXT NOT NULL, "createdAt" DATETIME NOT NULL)`);
    db.exec('CREATE INDEX "Event_userId_idx" ON "Event"("userId")');
    db.prepare(`INSERT INTO "Event" SELECT "id", "userId", "type", "payload", "createdAt" FROM src."Event" ORDER BY "id" LIMIT ?`).run(ROWS);
    db.exec('DETACH DATABASE src');
  } finally {
    db.close();
  }
  renameSync(tmp, path);
}

/** Starts the stand-in as a child process; resolves with its URL once it prints `listening`. */
function startStandIn(db: string, latencyMs: number): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((res, rej) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/support/hrana-server.ts', '--db', db, '--port', '0', '--token', TOKEN, '--latency-ms', String(latencyMs)],
      { cwd: resolve('.'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) res({ url: m[1]!, child });
    });
    child.stderr!.on('data', (d) => (err += d));
    child.on('exit', (code) => rej(new Error(`stand-in exited ${code}: ${err.slice(-500)}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

const tsx = (script: string, ...args: string[]) => ({ argv: [process.execPath, '--import', 'tsx', script, ...args] });
const secs = (ms: number) => (ms / 1000).toFixed(2);

export async function run({ say, runs, db1, work }: Ctx): Promise<void> {
  const db = join(work, 'remote-200k.db');
  console.error('bench remote: building/reusing the 200k-row database…');
  buildRemoteDb(db1, db);
  const dump = join(work, 'remote-200k.ndjson.gz');
  const backupMs: Record<number, number[]> = { 0: [], 50: [] };
  const restoreMs: Record<number, number[]> = { 0: [], 50: [] };
  const rss: number[] = [];

  for (let i = 0; i < runs; i++) {
    for (const latency of LATENCIES) {
      const { url, child } = await startStandIn(db, latency);
      try {
        rmSync(dump, { force: true });
        rmSync(`${dump}.manifest.json`, { force: true });
        const m = await measure(tsx('scripts/backup-turso.ts', '--write', '--out', dump, '--quiet'), {
          ...process.env,
          TURSO_DATABASE_URL: url,
          TURSO_AUTH_TOKEN: TOKEN,
        });
        backupMs[latency]!.push(m.ms);
        if (m.peakRssMb) rss.push(m.peakRssMb);
      } finally {
        await stop(child);
      }
    }
  }
  for (let i = 0; i < runs; i++) {
    for (const latency of LATENCIES) {
      const target = join(work, `remote-restored-${latency}.db`);
      for (const s of ['', '-wal', '-shm', '-journal']) rmSync(target + s, { force: true });
      const { url, child } = await startStandIn(target, latency);
      try {
        const m = await measure(tsx('scripts/restore-turso.ts', dump, '--confirm', '--quiet'), {
          ...process.env,
          TURSO_DATABASE_URL: url,
          TURSO_AUTH_TOKEN: TOKEN,
        });
        restoreMs[latency]!.push(m.ms);
        if (m.peakRssMb) rss.push(m.peakRssMb);
      } finally {
        await stop(child);
      }
    }
  }

  const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
  say(`\n## remote (Hrana over HTTP, stand-in sqld in its own process) — ${ROWS.toLocaleString('en-US')} rows, ${mb(statSync(db).size)} MiB database, ${mb(statSync(dump).size)} MiB dump`);
  say('| | 0 ms latency (median) | 50 ms latency (median) | ratio 50/0 | runs 0 ms | runs 50 ms |');
  say('|---|---|---|---|---|---|');
  const row = (label: string, r: Record<number, number[]>) => {
    const a = median(r[0]!);
    const b = median(r[50]!);
    say(`| ${label} | ${secs(a)} s | ${secs(b)} s | **${(b / a).toFixed(2)}×** | ${r[0]!.map(secs).join(', ')} | ${r[50]!.map(secs).join(', ')} |`);
    return b / a;
  };
  const rb = row('backup-turso --write', backupMs);
  const rr = row('restore-turso --confirm (empty remote target)', restoreMs);
  say(`\ntarget ≤ 1.5×: backup **${rb.toFixed(2)}×**, restore **${rr.toFixed(2)}×**; our peak RSS **${rss.length ? Math.max(...rss).toFixed(0) : '?'} MB**`);
}
