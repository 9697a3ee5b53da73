/**
 * `npm run bench`: our commands against their anchors, alternating in one run (the machine's speed drifts between
 * runs, so only same-run ratios mean anything). Prints medians, ratios, sizes and our peak RSS as Markdown.
 *
 *   npm run bench -- [--runs N] [--only backup,restore,remote,upload] [--no-3x]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBenchDb } from './build-db.js';
import { measure, median } from './measure.js';

const { values: v } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, only: { type: 'string' }, 'no-3x': { type: 'boolean' } },
});
const runs = Number(v.runs);
const only = new Set((v.only ?? 'backup,restore').split(','));
const dataDir = resolve('bench/data');
const work = join(dataDir, 'work');
mkdirSync(work, { recursive: true });
const out: string[] = [];
const say = (s: string) => {
  console.log(s);
  out.push(s);
};
const tsx = (script: string, ...args: string[]) => ({ argv: [process.execPath, '--import', 'tsx', script, ...args] });
const size = (p: string) => statSync(p).size;
const mb = (n: number) => (n / 1024 / 1024).toFixed(1);

if (spawnSync('sqlite3', ['-version']).status !== 0) {
  console.error('bench: the anchor needs the sqlite3 CLI (apt-get install sqlite3)');
  process.exit(2);
}

const db1 = join(dataDir, 'bench-1x.db');
console.error('bench: building/reusing the 1x database…');
buildBenchDb(db1, 1);
say(`# bench ${new Date().toISOString()} — ${runs} alternating runs, ${db1} (${mb(size(db1))} MiB)`);

async function benchBackup() {
  const ours: number[] = [];
  const anchor: number[] = [];
  const rss: number[] = [];
  const dump = join(work, 'ours.ndjson.gz');
  const sql = join(work, 'anchor.sql.gz');
  for (let i = 0; i < runs; i++) {
    rmSync(dump, { force: true });
    rmSync(`${dump}.manifest.json`, { force: true });
    const a = await measure(tsx('scripts/backup-turso.ts', '--write', '--out', dump, '--quiet'), { ...process.env, TURSO_DATABASE_URL: `file:${db1}` });
    ours.push(a.ms);
    rss.push(a.peakRssMb ?? NaN);
    const b = await measure({ shell: `sqlite3 '${db1}' .dump | gzip -6 > '${sql}'` });
    anchor.push(b.ms);
  }
  say('\n## backup (1M rows)');
  say('| | median wall | runs | output |');
  say('|---|---|---|---|');
  say(`| ours: backup-turso --write | ${(median(ours) / 1000).toFixed(2)} s | ${ours.map((x) => (x / 1000).toFixed(2)).join(', ')} | ${mb(size(dump))} MiB |`);
  say(`| anchor: sqlite3 .dump \\| gzip -6 | ${(median(anchor) / 1000).toFixed(2)} s | ${anchor.map((x) => (x / 1000).toFixed(2)).join(', ')} | ${mb(size(sql))} MiB |`);
  say(`\nratio (ours/anchor): **${(median(ours) / median(anchor)).toFixed(2)}×** wall, **${(size(dump) / size(sql)).toFixed(3)}×** size; our peak RSS **${Math.max(...rss).toFixed(0)} MB**`);
  if (!v['no-3x']) {
    const db3 = join(dataDir, 'bench-3x.db');
    console.error('bench: building/reusing the 3x database…');
    buildBenchDb(db3, 3);
    const dump3 = join(work, 'ours-3x.ndjson.gz');
    rmSync(dump3, { force: true });
    rmSync(`${dump3}.manifest.json`, { force: true });
    const c = await measure(tsx('scripts/backup-turso.ts', '--write', '--out', dump3, '--quiet'), { ...process.env, TURSO_DATABASE_URL: `file:${db3}` });
    const r1 = Math.max(...rss);
    say(`3× database (${mb(size(db3))} MiB): ${(c.ms / 1000).toFixed(2)} s, peak RSS **${c.peakRssMb?.toFixed(0)} MB** (${(((c.peakRssMb ?? 0) / r1 - 1) * 100).toFixed(1)} % vs 1×)`);
  }
}

async function benchRestore() {
  const dump = join(work, 'ours.ndjson.gz');
  const sql = join(work, 'anchor.sql.gz');
  try {
    size(dump);
    size(sql);
  } catch {
    await benchBackupOnce(dump, sql);
  }
  const ours: number[] = [];
  const anchor: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t1 = join(work, 'restored-ours.db');
    const t2 = join(work, 'restored-anchor.db');
    for (const p of [t1, t2]) for (const s of ['', '-wal', '-shm', '-journal']) rmSync(p + s, { force: true });
    const a = await measure(tsx('scripts/restore-turso.ts', dump, '--confirm', '--quiet'), { ...process.env, TURSO_DATABASE_URL: `file:${t1}` });
    ours.push(a.ms);
    rss.push(a.peakRssMb ?? NaN);
    const b = await measure({ shell: `gunzip -c '${sql}' | sqlite3 '${t2}'` });
    anchor.push(b.ms);
  }
  say('\n## restore (1M rows, verify-before-write included)');
  say('| | median wall | runs |');
  say('|---|---|---|');
  say(`| ours: restore-turso --confirm | ${(median(ours) / 1000).toFixed(2)} s | ${ours.map((x) => (x / 1000).toFixed(2)).join(', ')} |`);
  say(`| anchor: gunzip -c \\| sqlite3 | ${(median(anchor) / 1000).toFixed(2)} s | ${anchor.map((x) => (x / 1000).toFixed(2)).join(', ')} |`);
  say(`\nratio (ours/anchor): **${(median(ours) / median(anchor)).toFixed(2)}×**; our peak RSS **${Math.max(...rss).toFixed(0)} MB**`);
}

async function benchBackupOnce(dump: string, sql: string) {
  rmSync(dump, { force: true });
  rmSync(`${dump}.manifest.json`, { force: true });
  await measure(tsx('scripts/backup-turso.ts', '--write', '--out', dump, '--quiet'), { ...process.env, TURSO_DATABASE_URL: `file:${db1}` });
  await measure({ shell: `sqlite3 '${db1}' .dump | gzip -6 > '${sql}'` });
}

if (only.has('backup')) await benchBackup();
if (only.has('restore')) await benchRestore();
for (const extra of ['remote', 'upload', 'media']) {
  if (only.has(extra)) {
    const mod = await import(`./bench-${extra}.js`);
    await mod.run({ say, runs, db1, work });
  }
}
writeFileSync(join(dataDir, 'last-results.md'), `${out.join('\n')}\n`);
