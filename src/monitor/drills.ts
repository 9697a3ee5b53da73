/**
 * Drill records: the result of a restore drill, kept as an immutable sidecar beside the dump it drilled,
 * `<dump>.drill-<UTC stamp>-<6 hex>.json` (local file, mode 0600, created exclusively; or a private blob with
 * allowOverwrite false).
 *
 * Why a sidecar and not the manifest: a drill usually runs later than the backup, separately (`npm run drill`, on
 * another machine, on an older backup, again after an upgrade), so recording it in the manifest would mean rewriting
 * a file that listing, check and prune trust as written once after the dump was complete. A rewrite can be lost or
 * torn by two overlapping drills and briefly leaves no valid manifest. One new file per drill cannot conflict with
 * anything, and the history is still derived from files that never change. Prune deletes a dump's sidecars with it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { DrillReport } from '../drill.js';
import type { Manifest } from '../format/lines.js';
import { TOOL } from '../version.js';
import { oneLine, redact } from './notify.js';

export const DRILL_MARK = '.drill-';

export interface DrillRecord {
  type: 'turso-backup-drill';
  version: 1;
  /** The dump's file name (no directory). */
  dump: string;
  /** The dump file's sha256 from its manifest, so a record cannot be taken for another dump of the same name. */
  dumpSha256: string | null;
  drilledAt: string;
  pass: boolean;
  durationMs: number;
  tables: number;
  rows: number;
  checks: { name: string; ok: boolean; detail: string }[];
  tool: string;
}

/** The record of one drill (check details are one line each, redacted; they hold counts and names, no row data). */
export function drillRecord(dumpName: string, manifest: Manifest | null, report: DrillReport, at = new Date()): DrillRecord {
  return {
    type: 'turso-backup-drill',
    version: 1,
    dump: dumpName,
    dumpSha256: manifest?.file.sha256 ?? null,
    drilledAt: at.toISOString(),
    pass: report.pass,
    durationMs: report.durationMs,
    tables: Object.keys(report.tables).length,
    rows: Object.values(report.tables).reduce((a, b) => a + b, 0),
    checks: report.checks.map((c) => ({ name: c.name, ok: c.ok, detail: oneLine(redact(c.detail), 300) })),
    tool: TOOL,
  };
}

/** `<dump>.drill-2026-01-02T03-04-05.678Z-a1b2c3.json`: sorts by time, unique even for simultaneous drills. */
export const drillPathFor = (dump: string, at: Date) => `${dump}${DRILL_MARK}${at.toISOString().replaceAll(':', '-')}-${randomBytes(3).toString('hex')}.json`;

/** A parsed drill record, or null for anything that is not one. */
export function parseDrillRecord(text: string): DrillRecord | null {
  try {
    const r = JSON.parse(text) as DrillRecord;
    return r && r.type === 'turso-backup-drill' && typeof r.pass === 'boolean' && typeof r.drilledAt === 'string' ? r : null;
  } catch {
    return null;
  }
}

async function writeLocal(path: string, text: string): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeBlob(ref: string, record: DrillRecord, at: Date): Promise<string> {
  const { requireBlobToken } = await import('../blob/config.js');
  const { headBlob, withRetry } = await import('../blob/client.js');
  const { put } = await import('@vercel/blob');
  const token = requireBlobToken();
  const meta = await headBlob(ref, token);
  await headBlob(`${meta.pathname}.manifest.json`, token); // only complete backups get records
  record.dump = meta.pathname.split('/').pop()!;
  const path = drillPathFor(meta.pathname, at);
  await withRetry(`upload of ${path}`, () =>
    put(path, `${JSON.stringify(record, null, 2)}\n`, {
      access: 'private',
      addRandomSuffix: false,
      allowOverwrite: false,
      contentType: 'application/json',
      token,
    }),
  );
  return path;
}

/**
 * Records a drill of `source` (a local dump or a Blob pathname/URL) beside it. Only a complete backup (one with its
 * manifest) gets a record: drilling a loose file writes nothing. Returns where it was written, or null.
 */
export async function recordDrill(source: string, blob: boolean, manifest: Manifest | null, report: DrillReport): Promise<string | null> {
  const at = new Date();
  const name = blob ? decodeURIComponent(source.split('?')[0]!.split('/').pop()!) : source.split('/').pop()!;
  const record = drillRecord(name, manifest, report, at);
  if (blob) return writeBlob(source, record, at);
  if (!existsSync(`${source}.manifest.json`)) return null;
  const path = drillPathFor(source, at);
  await writeLocal(path, `${JSON.stringify(record, null, 2)}\n`);
  return path;
}

/**
 * The drill CLI's hook: records the drill and returns the line to print. A record that cannot be written is a
 * warning, never a change to the drill's own verdict.
 */
export async function recordDrillLine(source: string, fromBlob: boolean, manifest: Manifest | null, report: DrillReport): Promise<string> {
  try {
    const path = await recordDrill(source, fromBlob, manifest, report);
    return path ? `drill result recorded: ${path}` : 'drill result not recorded (the dump has no manifest beside it: not a complete backup of a store)';
  } catch (e) {
    return `warning: the drill result could not be recorded: ${oneLine(redact((e as Error).message), 300)}`;
  }
}
