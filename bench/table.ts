/** The results table: every shape's backup and restore against their anchors, with the targets. */
import { median, type Measured } from './measure.js';
import type { JobRuns } from './shape-bench.js';

/** One shape's results: a backup and/or a restore row of the table. */
export interface ShapeRow {
  name: string;
  rows: number;
  dbBytes: number;
  backup?: JobRuns;
  restore?: JobRuns;
}

/** Issue 17's targets. */
export const TARGETS = { backupWall: 1.0, size: 1.1, restoreWall: 1.0, restoreWallMax: 1.25, rssMb: 160, tripleGrowth: 0.15 };

const secs = (ms: number) => (ms / 1000).toFixed(2);
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const count = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : String(n));
const ok = (good: boolean) => (good ? '✓' : '✗');
const wall = (ms: Measured[]) => `${secs(median(ms.map((m) => m.ms)))} s (${ms.map((m) => secs(m.ms)).join(', ')})`;
const peak = (ms: Measured[]) => Math.max(...ms.map((m) => m.peakRssMb ?? NaN));
const cpu = (ms: Measured[]) => secs(median(ms.map((m) => m.cpuMs ?? NaN)));

function tripleCell(j: JobRuns): string {
  if (!j.triple) return '—';
  const base = median(j.ours.map((m) => m.peakRssMb ?? NaN));
  const growth = (j.triple.peakRssMb ?? NaN) / base - 1;
  return `${j.triple.peakRssMb?.toFixed(0)} MB (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} %) ${ok(growth <= TARGETS.tripleGrowth)}`;
}

function row(shape: ShapeRow, job: 'backup' | 'restore', j: JobRuns): string {
  const ratio = median(j.ours.map((m) => m.ms)) / median(j.anchor.map((m) => m.ms));
  const ratioMark = job === 'backup' ? ok(ratio <= TARGETS.backupWall) : ratio <= TARGETS.restoreWall ? '✓' : ratio <= TARGETS.restoreWallMax ? '~' : '✗';
  const size = j.oursBytes && j.anchorBytes ? j.oursBytes / j.anchorBytes : null;
  const sizeCell = size === null ? '—' : `${mib(j.oursBytes!)} / ${mib(j.anchorBytes!)} = **${size.toFixed(2)}×** ${ok(size <= TARGETS.size)}`;
  const rss = peak(j.ours);
  return [
    '',
    `${shape.name} (${count(shape.rows)} rows, ${mib(shape.dbBytes)})`,
    job,
    wall(j.ours),
    wall(j.anchor),
    `**${ratio.toFixed(2)}×** ${ratioMark}`,
    sizeCell,
    `${rss.toFixed(0)} MB ${ok(rss < TARGETS.rssMb)}`,
    tripleCell(j),
    `${cpu(j.ours)} / ${cpu(j.anchor)} s`,
    '',
  ]
    .join(' | ')
    .trim();
}

/** The one table, its legend, and warnings about measurements that may not mean what they seem. */
export function formatTable(shapes: ShapeRow[]): string[] {
  const out = [
    '| shape | job | ours: median (runs) | anchor: median (runs) | wall ours/anchor | size ours/anchor | our peak RSS | 3×: our peak RSS (vs 1×) | CPU u+s: ours / anchor |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of shapes) {
    if (s.backup) out.push(row(s, 'backup', s.backup));
    if (s.restore) out.push(row(s, 'restore', s.restore));
  }
  out.push(
    '',
    'anchors: backup `sqlite3 DB .dump | pigz -p 2 -6 > X.sql.gz`; restore `gunzip -c X.sql.gz | sqlite3 new.db`. ' +
      'Ours: `npx tsx scripts/backup-turso.ts --write --out X --quiet`; `npx tsx scripts/restore-turso.ts X --confirm --quiet` into a new file.',
    `targets: backup ≤ ${TARGETS.backupWall.toFixed(1)}× wall, size ≤ ${TARGETS.size.toFixed(2)}×; restore ≤ ${TARGETS.restoreWall.toFixed(1)}× (~: above, ` +
      `but ≤ ${TARGETS.restoreWallMax}×); peak RSS < ${TARGETS.rssMb} MB; 3× ≤ +${TARGETS.tripleGrowth * 100} % over the 1× median.`,
    'Peak RSS and "ours" CPU are those of the process doing the work (node bin/turso-backup.mjs, all its threads), ' +
      'not of the npx/tsx wrappers (bench/probe.cjs); anchor CPU is the whole pipeline (GNU time).',
  );
  const ours = shapes.flatMap((s) => [...(s.backup?.ours ?? []), ...(s.restore?.ours ?? [])]).filter((m) => m.work);
  if (ours.length) {
    const overhead = median(ours.map((m) => m.ms - m.work!.wallMs));
    out.push(
      `Of ours' wall time, the npx/tsx wrappers' start-up and exit take ${secs(overhead)} s (median over all our runs); the rest is the working process's life.`,
    );
  }
  for (const s of shapes) {
    for (const j of [s.backup, s.restore]) {
      for (const m of [...(j?.ours ?? []), ...(j?.triple ? [j.triple] : [])]) {
        if (!m.work) out.push(`⚠ ${s.name}: a run of ours reported no working process (bench/probe.cjs did not run): its RSS/CPU are the whole tree's.`);
        else if (m.treePeakRssMb && m.treePeakRssMb > m.work.peakRssMb + 1) {
          out.push(
            `⚠ ${s.name}: the largest process of a run was not the working one (${m.treePeakRssMb.toFixed(0)} MB vs ${m.work.peakRssMb.toFixed(0)} MB).`,
          );
        }
      }
    }
  }
  return out;
}
