/**
 * The status page's model, built from the history (history.ts) and the freshness rules (check.ts): pure, so the
 * same page comes from the CLI (`report --html`) and the cron deployment (`/api/backups/status`).
 */
import { basename } from 'node:path';
import { TOOL } from '../version.js';
import { evaluate, fmtAge, type CheckOptions, type TableChange } from './check.js';
import type { DrillRecord } from './drills.js';
import type { BackupRecord, BackupStore } from './history.js';

export interface BackupRow {
  name: string;
  createdAt: string;
  bytes: number;
  durationMs: number | null;
  tables: number | null;
  rows: number | null;
  complete: boolean;
  problem: string | null;
  encrypted: boolean;
  /** The newest drill of this backup, if any. */
  drill: { pass: boolean; at: string } | null;
}

export interface ReportModel {
  generatedAt: string;
  tool: string;
  store: string;
  /** The database as the manifests name it, reduced to a host or a file name. */
  database: string | null;
  verdict: { ok: boolean; summary: string; problems: { code: string; message: string }[] };
  /** Newest first. */
  backups: BackupRow[];
  newest: string | null;
  previous: string | null;
  changes: TableChange[];
  minRowsRatio: number;
  lastDrill: (DrillRecord & { backup: string }) | null;
}

/** A manifest's `source` (already redacted when written) reduced to what the page shows: host or file name. */
export function databaseOf(source: string | undefined): string | null {
  if (!source) return null;
  if (source.startsWith('file:')) return basename(source.slice(5));
  try {
    return new URL(source).host || null;
  } catch {
    return null;
  }
}

function row(r: BackupRecord): BackupRow {
  const m = r.manifest;
  const drill = r.drills[0];
  return {
    name: r.name,
    createdAt: r.createdAt,
    bytes: r.size,
    durationMs: typeof m?.run?.durationMs === 'number' ? m.run.durationMs : null,
    tables: m ? Object.keys(m.tables).length : null,
    rows: typeof m?.totalRows === 'number' ? m.totalRows : null,
    complete: r.complete,
    problem: r.problem ?? null,
    encrypted: m?.file?.encrypted ?? false,
    drill: drill ? { pass: drill.pass, at: drill.drilledAt } : null,
  };
}

/** The newest drill across the store, with the backup it drilled. */
function lastDrillOf(records: BackupRecord[]): ReportModel['lastDrill'] {
  let best: ReportModel['lastDrill'] = null;
  for (const r of records) {
    const d = r.drills[0];
    if (d && (!best || Date.parse(d.drilledAt) > Date.parse(best.drilledAt))) best = { ...d, backup: r.name };
  }
  return best;
}

/** The page's model from a listed history. */
export function buildReport(records: BackupRecord[], store: string, opts: CheckOptions & { now?: Date }): ReportModel {
  const v = evaluate(records, opts);
  const summary = v.newest ? `newest complete backup ${fmtAge(v.ageMs!)} old (limit ${fmtAge(opts.maxAgeMs)})` : 'no complete backup in the store';
  return {
    generatedAt: (opts.now ?? new Date()).toISOString(),
    tool: TOOL,
    store,
    database: databaseOf(v.newest?.manifest?.source ?? records.find((r) => r.manifest)?.manifest?.source),
    verdict: { ok: v.ok, summary, problems: v.problems },
    backups: records.map(row),
    newest: v.newest?.name ?? null,
    previous: v.previous?.name ?? null,
    changes: v.changes,
    minRowsRatio: opts.minRowsRatio,
    lastDrill: lastDrillOf(records),
  };
}

/** Lists `store` and renders its page (report-html.ts). */
export async function statusPage(store: BackupStore, opts: CheckOptions): Promise<{ html: string; model: ReportModel }> {
  const { renderReportHtml } = await import('./report-html.js');
  const model = buildReport(await store.list(), store.label, opts);
  return { html: renderReportHtml(model), model };
}
