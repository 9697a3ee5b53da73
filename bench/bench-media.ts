/**
 * `npm run bench -- --only media`: media-check over 10k inventoried objects at concurrency 16, against the Blob
 * stand-in with 20 ms latency on every request (the CLI as operators run it, in a child process).
 *
 * Setup (not timed): a stand-in without latency receives 10k tiny blobs through the real client, a better-sqlite3
 * database gets 10k MediaAsset rows pointing at them; the stand-in is then restarted over the same directory and
 * port with latencyMs 20.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { put } from '@vercel/blob';
import pLimit from 'p-limit';
import { applyBlobEnv, withBlobEnv } from '../test/support/blob-env.js';
import { startBlobServer } from '../test/support/blob-server.js';
import { measure, median } from './measure.js';

const OBJECTS = 10_000;
const CONCURRENCY = 16;
const LATENCY_MS = 20;
const TOKEN = 'vercel_blob_rw_benchmedia_s3cr3t';

export async function run({ say, runs, work }: { say: (s: string) => void; runs: number; db1: string; work: string }): Promise<void> {
  const dir = join(work, 'media');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const storeDir = join(dir, 'store');
  const dbPath = join(dir, 'media.db');

  console.error(`bench media: putting ${OBJECTS} blobs into the stand-in…`);
  const setupStarted = Date.now();
  const fast = await startBlobServer({ dir: storeDir, token: TOKEN });
  const restoreEnv = applyBlobEnv(fast);
  const db = new Database(dbPath);
  db.exec('CREATE TABLE "MediaAsset" ("id" TEXT NOT NULL PRIMARY KEY, "url" TEXT NOT NULL, "blobPathname" TEXT, "contentType" TEXT, "size" INTEGER)');
  const ins = db.prepare('INSERT INTO MediaAsset VALUES (?, ?, ?, ?, ?)');
  const limit = pLimit(64);
  try {
    await Promise.all(
      Array.from({ length: OBJECTS }, (_, i) =>
        limit(async () => {
          const body = `media object ${i}`;
          const r = await put(`media/${i % 100}/object-${i}.txt`, body, { access: 'public' });
          ins.run(`asset-${i}`, r.url, r.pathname, 'text/plain', Buffer.byteLength(body));
        }),
      ),
    );
  } finally {
    db.close();
    restoreEnv();
    await fast.close();
  }
  console.error(`bench media: setup took ${((Date.now() - setupStarted) / 1000).toFixed(1)} s`);

  const server = await startBlobServer({ dir: storeDir, token: TOKEN, port: fast.port, latencyMs: LATENCY_MS });
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, ...withBlobEnv(server), TURSO_DATABASE_URL: `file:${dbPath}` };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const times: number[] = [];
    const rss: number[] = [];
    for (let i = 0; i < runs; i++) {
      const before = server.stats.requests.head;
      const m = await measure(
        { argv: [process.execPath, '--import', 'tsx', 'scripts/media-check.ts', '--json', '--concurrency', String(CONCURRENCY), '--quiet'] },
        env,
      );
      const out = JSON.parse(m.stdout.trim().split('\n').at(-1)!) as { checked: number; missing: unknown[]; mismatched: unknown[] };
      if (out.checked !== OBJECTS || out.missing.length || out.mismatched.length) {
        throw new Error(`bench media: unexpected result ${JSON.stringify({ ...out, missing: out.missing.length, mismatched: out.mismatched.length })}`);
      }
      const heads = server.stats.requests.head - before;
      if (heads !== OBJECTS) throw new Error(`bench media: expected ${OBJECTS} head requests, the stand-in saw ${heads}`);
      times.push(m.ms);
      rss.push(m.peakRssMb ?? NaN);
    }
    const med = median(times);
    const floor = (OBJECTS / CONCURRENCY) * LATENCY_MS;
    say(`\n## media-check (${OBJECTS.toLocaleString('en-US')} objects, concurrency ${CONCURRENCY}, stand-in latency ${LATENCY_MS} ms)`);
    say('| | median wall | runs | objects/s | peak RSS |');
    say('|---|---|---|---|---|');
    say(
      `| media-check --concurrency ${CONCURRENCY} | ${(med / 1000).toFixed(2)} s | ${times.map((x) => (x / 1000).toFixed(2)).join(', ')} | ` +
        `${Math.round(OBJECTS / (med / 1000)).toLocaleString('en-US')} | ${Math.max(...rss).toFixed(0)} MB |`,
    );
    say(`\nlatency floor (${OBJECTS} / ${CONCURRENCY} × ${LATENCY_MS} ms): ${(floor / 1000).toFixed(2)} s; target: well under 30 s`);
  } finally {
    await server.close();
  }
}
