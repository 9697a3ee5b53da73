/**
 * `npm run bench -- --only remote`: backup and restore of the events shape at 200k rows (`bigdb.sh x.db 200000`)
 * over HTTP (Hrana) through the stand-in sqld (test/support/hrana-server.ts in its own process, as sqld would be),
 * at 0 ms and 50 ms added latency per request, and the same backup and restore of the same file locally.
 *
 * What counts for the cron is the client's own CPU (user + sys of the process doing the work, bench/probe.cjs; the
 * stand-in's CPU is not in it). Targets (issue 17): remote client CPU ≤ 1.5× the local run's on the same data, for
 * backup and for restore; wall time not worse at 0 and 50 ms; peak RSS < 200 MB. Runs alternate between the three
 * ways in every round, so that drift of the machine's speed hits all alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { del, list } from '@vercel/blob';
import { withBlobEnv } from '../test/support/blob-env.js';
import { startBlobServer } from '../test/support/blob-server.js';
import { bundleCron, CRON_SECRET } from './bench-upload.js';
import { measure, median, type Measured } from './measure.js';
import { filesFor, oursRestore, runOursBackup, runOursRestore, type Files } from './shape-bench.js';
import { ensureShape, SHAPES } from './shapes.js';

const LATENCIES = [0, 50] as const;
const TOKEN = 'bench-token-not-secret';
type Way = 'local' | `${(typeof LATENCIES)[number]} ms`;
const WAYS: Way[] = ['local', ...LATENCIES.map((l) => `${l} ms` as Way)];

interface Ctx {
  say: (s: string) => void;
  runs: number;
  work: string;
  dataDir: string;
  scale: number;
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

/** A command with the stand-in serving `db` at `latency` for its duration. */
async function viaStandIn(db: string, latency: number, run: (url: string, env: NodeJS.ProcessEnv) => Promise<Measured>): Promise<Measured> {
  const { url, child } = await startStandIn(db, latency);
  try {
    return await run(url, { TURSO_AUTH_TOKEN: TOKEN });
  } finally {
    await stop(child);
  }
}

function backupOnce(way: Way, db: string, f: Files): Promise<Measured> {
  if (way === 'local') return runOursBackup(`file:${db}`, f.dump);
  return viaStandIn(db, parseInt(way, 10), (url, env) => runOursBackup(url, f.dump, env));
}

async function restoreOnce(way: Way, f: Files): Promise<Measured> {
  if (way === 'local') return runOursRestore(f.dump, f.targets);
  rmSync(f.targets, { recursive: true, force: true });
  mkdirSync(f.targets, { recursive: true });
  try {
    // An empty remote database: the stand-in creates its file.
    return await viaStandIn(join(f.targets, 'remote.db'), parseInt(way, 10), (url, env) => measure(oursRestore(f.dump, url, env)));
  } finally {
    rmSync(f.targets, { recursive: true, force: true });
  }
}

/** `runs` rounds of every way, the order rotating from round to round. */
async function rounds(runs: number, once: (way: Way) => Promise<Measured>): Promise<Record<Way, Measured[]>> {
  const r = Object.fromEntries(WAYS.map((w) => [w, [] as Measured[]])) as Record<Way, Measured[]>;
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < WAYS.length; k++) {
      const way = WAYS[(i + k) % WAYS.length]!;
      r[way].push(await once(way));
    }
  }
  return r;
}

const BLOB_TOKEN = 'vercel_blob_rw_benchstore_benchsecret0002';

/**
 * The cron as Vercel runs it: the handler bundled to plain JavaScript, called once in a plain node process (no
 * memory flags: a function's node is started by the platform), reading the database over HTTP and uploading into
 * the Blob stand-in (in this process, as the network would be). `runs` rounds at each latency.
 */
async function cronRounds(runs: number, db: string, work: string): Promise<Record<string, Measured[]>> {
  const entry = await bundleCron(work);
  const storeDir = join(work, 'cron-blob-store');
  rmSync(storeDir, { recursive: true, force: true });
  const server = await startBlobServer({ dir: storeDir, token: BLOB_TOKEN });
  const blobEnv = withBlobEnv(server);
  const clear = async () => {
    const urls = (await list({ prefix: 'backups/', token: BLOB_TOKEN })).blobs.map((b) => b.url);
    if (urls.length) await del(urls, { token: BLOB_TOKEN });
  };
  // The parent lists and deletes through the same client: point it at the stand-in while the rounds run.
  const saved = { ...process.env };
  for (const [k, v] of Object.entries(blobEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const r: Record<string, Measured[]> = Object.fromEntries(LATENCIES.map((l) => [`${l} ms`, [] as Measured[]]));
  try {
    for (let i = 0; i < runs; i++) {
      for (const latency of LATENCIES) {
        await clear();
        const m = await viaStandIn(db, latency, (url, env) =>
          measure({ argv: [process.execPath, entry] }, { ...process.env, ...env, TURSO_DATABASE_URL: url, CRON_SECRET }),
        );
        const body = JSON.parse(m.stdout.trim().split('\n').pop()!) as { ok?: boolean; pathname?: string };
        if (!body.pathname) throw new Error(`cron run failed: ${m.stdout.slice(0, 300)}`);
        r[`${latency} ms`]!.push(m);
      }
    }
  } finally {
    await clear().catch(() => {});
    await server.close();
    rmSync(storeDir, { recursive: true, force: true });
    for (const k of Object.keys(blobEnv)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
  return r;
}

/** Runs the remote bench and prints its table through `say`. */
export async function run({ say, runs, work, dataDir, scale }: Ctx): Promise<void> {
  const db = ensureShape(dataDir, SHAPES.find((s) => s.name === 'events')!, 0.2 * scale);
  const f = filesFor(join(work, `remote-${basename(db.path, '.db')}`));
  // The stand-in switches its database to WAL mode (as sqld runs): serve a copy, switched up front so that every
  // run, local or remote, reads the same file in the same mode; the cached database stays as built.
  const served = join(f.targets, '..', 'served.db');
  for (const s of ['', '-wal', '-shm']) rmSync(served + s, { force: true });
  copyFileSync(db.path, served);
  const wal = new Database(served);
  wal.pragma('journal_mode = WAL');
  wal.close();
  const backup = await rounds(runs, (way) => backupOnce(way, served, f));
  const cron = await cronRounds(runs, served, work);
  // The restores read the local backup's dump: every way restores the same bytes.
  await runOursBackup(`file:${served}`, f.dump);
  const restore = await rounds(runs, (way) => restoreOnce(way, f));

  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  say(
    `\n## remote (Hrana over HTTP, stand-in sqld in its own process) — events shape, ${db.rows.toLocaleString('en-US')} rows, ` +
      `${mib(db.bytes)} MiB database, ${mib(statSync(f.dump).size)} MiB dump`,
  );
  say('| job | way | wall: median (runs) | client CPU u+s: median (runs) | CPU vs local | CPU µs/row | whole command CPU (npx, tsx) | peak RSS |');
  say('|---|---|---|---|---|---|---|---|');
  const secs = (ms: number) => (ms / 1000).toFixed(2);
  const med = (ms: Measured[], k: 'ms' | 'cpuMs' | 'treeCpuMs') => median(ms.map((m) => m[k] ?? NaN));
  for (const [job, r] of [
    ['backup', backup],
    ['restore', restore],
  ] as const) {
    const localCpu = med(r.local, 'cpuMs');
    for (const way of WAYS) {
      const ms = r[way];
      const cpu = med(ms, 'cpuMs');
      say(
        `| ${job} | ${way === 'local' ? 'local file:' : `remote, ${way} latency`} | ${secs(med(ms, 'ms'))} s (${ms.map((m) => secs(m.ms)).join(', ')}) | ` +
          `${secs(cpu)} s (${ms.map((m) => secs(m.cpuMs ?? NaN)).join(', ')}) | ${way === 'local' ? '—' : `**${(cpu / localCpu).toFixed(2)}×** ${cpu / localCpu <= 1.5 ? '✓' : '✗'}`} | ` +
          `${((cpu * 1000) / db.rows).toFixed(1)} | ${secs(med(ms, 'treeCpuMs'))} s | ${Math.max(...ms.map((m) => m.peakRssMb ?? NaN)).toFixed(0)} MB |`,
      );
    }
  }
  const localBackupCpu = med(backup.local, 'cpuMs');
  for (const [way, ms] of Object.entries(cron)) {
    const cpu = med(ms, 'cpuMs');
    say(
      `| cron GET (bundled handler, plain node, into the Blob stand-in) | remote, ${way} latency | ${secs(med(ms, 'ms'))} s (${ms.map((m) => secs(m.ms)).join(', ')}) | ` +
        `${secs(cpu)} s (${ms.map((m) => secs(m.cpuMs ?? NaN)).join(', ')}) | ${(cpu / localBackupCpu).toFixed(2)}× | ${((cpu * 1000) / db.rows).toFixed(1)} | — | ` +
        `**${Math.max(...ms.map((m) => m.peakRssMb ?? NaN)).toFixed(0)} MB** ${Math.max(...ms.map((m) => m.peakRssMb ?? NaN)) < 200 ? '✓' : '✗'} |`,
    );
  }
  say(
    '\ntargets: remote client CPU ≤ 1.5× local (backup, restore); remote wall not worse than before at 0 and 50 ms; peak RSS < 200 MB. ' +
      'Client CPU is the working process alone (all threads); "whole command" adds npx, tsx and the wrapper (GNU time). The stand-in\'s CPU is in neither.',
  );
}
