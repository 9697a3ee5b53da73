/**
 * `npm run bench`: our backup and restore against their anchors on every data shape (bench/shapes.ts), alternating
 * in one run (absolute times on these 2-core machines drift by ±25 % between runs; only same-run ratios mean
 * anything). Prints one Markdown table, and keeps everything printed in bench/data/last-results.md.
 *
 *   npm run bench -- [--runs N] [--shapes current,events,wide,narrow] [--only backup,restore,remote,upload,media]
 *                    [--no-3x | --3x SHAPES] [--scale F] [--profile]
 *
 * --scale multiplies every row count (0.05 for a quick try; results are only meaningful at 1). --3x picks the shapes
 * whose 3× database is built and measured for memory flatness (default: all selected; slow). --profile adds one
 * CPU-profiled backup and restore per shape and prints where their time goes (bench/profile.ts).
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GNU_TIME } from './measure.js';
import { PROFILE_NOTE, profileShape } from './profile-run.js';
import { backupRuns, ensureDumps, filesFor, restoreRuns, runOursBackup, runOursRestore } from './shape-bench.js';
import { ensureShape, SHAPES, type Shape } from './shapes.js';
import { formatTable, type ShapeRow } from './table.js';

const OPTIONS = {
  options: {
    runs: { type: 'string', default: '3' },
    shapes: { type: 'string', default: SHAPES.map((s) => s.name).join(',') },
    only: { type: 'string', default: 'backup,restore' },
    'no-3x': { type: 'boolean', default: false },
    '3x': { type: 'string' },
    scale: { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
  },
} as const;
const JOBS = ['backup', 'restore', 'remote', 'upload', 'media'];
const v = (() => {
  try {
    return parseArgs(OPTIONS).values;
  } catch (e) {
    return fail((e as Error).message);
  }
})();
const runs = Number(v.runs);
const scale = Number(v.scale);
const only = new Set(v.only.split(','));
for (const j of only) if (!JOBS.includes(j)) fail(`unknown --only "${j}" (${JOBS.join(', ')})`);
const shapes = v.shapes.split(',').map((n) => SHAPES.find((s) => s.name === n) ?? fail(`unknown shape "${n}" (${SHAPES.map((s) => s.name).join(', ')})`));
const triple = new Set(v['no-3x'] ? [] : (v['3x']?.split(',') ?? shapes.map((s) => s.name)));
if (!(runs >= 0) || !(scale > 0)) fail('--runs must be ≥ 0 and --scale > 0');

const dataDir = resolve('bench/data');
const workDir = join(dataDir, 'work');
mkdirSync(workDir, { recursive: true });
const out: string[] = [];
/** Prints a line and keeps it in last-results.md (rewritten at every line, so that a crash keeps what was measured). */
const say = (s: string) => {
  console.log(s);
  out.push(s);
  writeFileSync(join(dataDir, 'last-results.md'), `${out.join('\n')}\n`);
};

function fail(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

function checkTools(): void {
  const has = (cmd: string, arg: string) => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
  if (!has('sqlite3', '-version')) fail('the anchors need the sqlite3 CLI: apt-get install -y sqlite3');
  if (!has('pigz', '--version')) fail('the backup anchor needs pigz: apt-get install -y pigz');
  if (!has('gunzip', '--version')) fail('the restore anchor needs gunzip: apt-get install -y gzip');
  if (!GNU_TIME) console.error("bench: no GNU time (/usr/bin/time; apt-get install -y time): anchors get no RSS/CPU, ours the probe's only");
}

/** Backup and restore runs of one shape at 1×, then (if asked) one run of each on its 3× database. */
async function benchShape(shape: Shape): Promise<ShapeRow> {
  const db = ensureShape(dataDir, shape, scale);
  const files = filesFor(join(workDir, basename(db.path, '.db')));
  const r: ShapeRow = { name: shape.name, rows: db.rows, dbBytes: db.bytes };
  if (runs > 0 && only.has('backup')) r.backup = await backupRuns(db.path, files, runs);
  if (runs > 0 && only.has('restore')) {
    await ensureDumps(db.path, files);
    r.restore = await restoreRuns(files, runs);
  }
  if (triple.has(shape.name) && (r.backup || r.restore)) {
    const db3 = ensureShape(dataDir, shape, scale * 3);
    const f3 = filesFor(join(workDir, basename(db3.path, '.db')));
    const b = await runOursBackup(`file:${db3.path}`, f3.dump);
    if (r.backup) r.backup.triple = b;
    if (r.restore) r.restore.triple = await runOursRestore(f3.dump, f3.targets);
  }
  console.error(`bench: ${shape.name} done`);
  return r;
}

checkTools();
const sqliteVersion = spawnSync('sqlite3', ['-version'], { encoding: 'utf8' }).stdout.split(' ')[0];
say(
  `# bench ${new Date().toISOString()} — ${runs} alternating runs, scale ${scale}, node ${process.version}, sqlite3 ${sqliteVersion}, ` +
    `load average at start ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
);
const rows: ShapeRow[] = [];
if (only.has('backup') || only.has('restore')) {
  for (const shape of shapes) rows.push(await benchShape(shape));
  if (runs > 0) {
    say('');
    for (const l of formatTable(rows)) say(l);
    say(`\nshapes: ${shapes.map((s) => `**${s.name}**: ${s.describe}`).join('; ')}.`);
    say(
      `load average at the end: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
  }
  if (v.profile) {
    for (const shape of shapes) {
      const db = ensureShape(dataDir, shape, scale);
      for (const l of await profileShape(shape.name, db.path, filesFor(join(workDir, basename(db.path, '.db'))), only)) say(l);
    }
    say(PROFILE_NOTE);
  }
}
for (const extra of ['remote', 'upload', 'media']) {
  if (!only.has(extra)) continue;
  const mod = (await import(`./bench-${extra}.js`)) as { run: (ctx: object) => Promise<void> };
  // Only the upload bench reads the current shape's 1× database.
  const db1 = extra === 'upload' ? ensureShape(dataDir, SHAPES[0]!, scale).path : '';
  await mod.run({ say, runs, db1, work: workDir, dataDir, scale });
}
