/**
 * `npm run bench -- --only upload`: backup-turso --upload of the 1M-row database into the Vercel Blob stand-in
 * (the real @vercel/blob client, a private multipart upload) against --write alone, alternating in one run; then
 * --write --upload (one pass, two sinks) and the cron handler (bundled to plain JS like a deployed function, run in
 * a child node process). Prints medians, the ratio (target <= 1.2x) and peak RSS (target < 200 MB).
 *
 * The stand-in runs in this (parent) process: it shares the machine's two cores with the backup, as a network
 * stack would, but its memory is not counted in the backup's RSS.
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { del, list } from '@vercel/blob';
import { withBlobEnv } from '../test/support/blob-env.js';
import { startBlobServer } from '../test/support/blob-server.js';
import { measure, median, type Measured } from './measure.js';

const TOKEN = 'vercel_blob_rw_benchstore_benchsecret0001';
export const CRON_SECRET = 'bench-cron-secret-0123456789';
const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
const secs = (ms: number) => (ms / 1000).toFixed(2);
const tsx = (script: string, ...args: string[]) => ({ argv: [process.execPath, '--import', 'tsx', script, ...args] });

/** The cron handler bundled with esbuild (as Vercel compiles a function) plus a runner calling GET once. */
export async function bundleCron(work: string): Promise<string> {
  const root = resolve('.');
  const dir = join(work, 'cron-bundle');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const entry = join(dir, 'entry.ts');
  writeFileSync(
    entry,
    `import { GET } from ${JSON.stringify(join(root, 'api', 'cron', 'backup.ts'))};
const res = await GET(new Request('https://bench.local/api/cron/backup', { headers: { authorization: 'Bearer ' + process.env.CRON_SECRET } }));
const text = await res.text();
process.stdout.write(text + '\\n');
process.exitCode = res.status === 200 ? 0 : 1;
`,
  );
  const { build } = await import('esbuild');
  await build({
    entryPoints: [entry],
    outdir: join(dir, 'out'),
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'silent',
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(join(root, 'src', 'version.ts')).href) },
  });
  writeFileSync(join(dir, 'out', 'package.json'), '{"type":"module"}\n');
  return join(dir, 'out', 'entry.js');
}

export async function run({ say, runs, db1, work }: { say: (s: string) => void; runs: number; db1: string; work: string }) {
  const storeDir = join(work, 'blob-store');
  rmSync(storeDir, { recursive: true, force: true });
  const server = await startBlobServer({ dir: storeDir, token: TOKEN });
  const blobEnv = withBlobEnv(server);
  // The parent talks to the store too (cleanup between runs).
  for (const [k, v] of Object.entries(blobEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const env: NodeJS.ProcessEnv = { ...process.env, TURSO_DATABASE_URL: `file:${db1}` };
  const dump = join(work, 'upload-write.ndjson.gz');
  const clearLocal = () => {
    rmSync(dump, { force: true });
    rmSync(`${dump}.manifest.json`, { force: true });
  };
  const clearStore = async () => {
    const blobs = (await list({ prefix: 'backups/', token: TOKEN })).blobs.map((b) => b.url);
    if (blobs.length) await del(blobs, { token: TOKEN });
  };

  const write: Measured[] = [];
  const upload: Measured[] = [];
  const both: Measured[] = [];
  const cron: Measured[] = [];
  let uploadedBytes = 0;
  let parts = 0;
  try {
    const cronEntry = await bundleCron(work);
    for (let i = 0; i < runs; i++) {
      // Alternate which goes first: the machine's speed drifts.
      const order = i % 2 === 0 ? ['write', 'upload'] : ['upload', 'write'];
      for (const which of order) {
        if (which === 'write') {
          clearLocal();
          write.push(await measure(tsx('scripts/backup-turso.ts', '--write', '--out', dump, '--quiet'), env));
        } else {
          await clearStore();
          const before = server.stats.partsUploaded;
          const m = await measure(tsx('scripts/backup-turso.ts', '--upload', '--quiet', '--json'), env);
          upload.push(m);
          parts = server.stats.partsUploaded - before;
          uploadedBytes = (JSON.parse(m.stdout.trim().split('\n').pop()!) as { bytes: number }).bytes;
        }
      }
      clearLocal();
      await clearStore();
      both.push(await measure(tsx('scripts/backup-turso.ts', '--write', '--upload', '--out', dump, '--quiet'), env));
      await clearStore();
      cron.push(await measure({ argv: [process.execPath, cronEntry] }, { ...env, CRON_SECRET }));
    }
  } finally {
    clearLocal();
    await clearStore().catch(() => {});
    await server.close();
    rmSync(storeDir, { recursive: true, force: true });
  }

  const row = (label: string, ms: Measured[]) =>
    `| ${label} | ${secs(median(ms.map((m) => m.ms)))} s | ${ms.map((m) => secs(m.ms)).join(', ')} | ${Math.max(...ms.map((m) => m.peakRssMb ?? NaN)).toFixed(0)} MB |`;
  say('\n## upload to Vercel Blob (stand-in, private multipart, 8 MiB parts, 3 in flight) — 1M rows');
  say('| | median wall | runs | peak RSS |');
  say('|---|---|---|---|');
  say(row('backup-turso --write (baseline)', write));
  say(row('backup-turso --upload', upload));
  say(row('backup-turso --write --upload (one pass, tee)', both));
  say(row('cron handler GET (bundled, child node)', cron));
  const ratio = median(upload.map((m) => m.ms)) / median(write.map((m) => m.ms));
  const ratioBoth = median(both.map((m) => m.ms)) / median(write.map((m) => m.ms));
  const ratioCron = median(cron.map((m) => m.ms)) / median(write.map((m) => m.ms));
  const peak = Math.max(...upload.map((m) => m.peakRssMb ?? NaN), ...cron.map((m) => m.peakRssMb ?? NaN));
  say(
    `\nratio --upload / --write: **${ratio.toFixed(2)}×** (target ≤ 1.2×); --write --upload: ${ratioBoth.toFixed(2)}×; cron: ${ratioCron.toFixed(2)}×. ` +
      `Uploaded ${mb(uploadedBytes)} MiB in ${parts} parts; peak RSS upload/cron **${peak.toFixed(0)} MB** (target < 200 MB)`,
  );
  try {
    say(`(db ${mb(statSync(db1).size)} MiB)`);
  } catch {
    /* ignore */
  }
}
