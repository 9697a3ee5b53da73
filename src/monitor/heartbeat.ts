/**
 * The heartbeat (healthchecks.io style, also Cronitor/Better Stack "heartbeat" URLs): a POST to BACKUP_HEARTBEAT_URL
 * after every successful run, to its `/fail` URL (or BACKUP_HEARTBEAT_FAIL_URL) after a failed one. The monitor
 * alerts when no success arrives in time, which is how a run that never happened (deleted schedule, expired secret)
 * gets noticed. The body is a short plain-text summary (healthchecks.io keeps the first 100 kB of it as the ping's
 * log); `rid` (a UUID) lets healthchecks.io pair the pings of one run.
 */
import type { Manifest } from '../format/lines.js';
import { fmtDuration } from './alert.js';
import type { FailureFacts } from './alert.js';

/** The failure URL: BACKUP_HEARTBEAT_FAIL_URL when given, else the ping URL with `/fail` appended to its path. */
export function failUrlOf(ping: URL, configured: URL | null): URL {
  if (configured) return new URL(configured);
  const u = new URL(ping);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/fail`;
  return u;
}

/** The URL with healthchecks.io's run id parameter (a UUID) added. */
export function withRunId(url: URL, runId: string): URL {
  const u = new URL(url);
  u.searchParams.set('rid', runId);
  return u;
}

const fmtBytes = (n: number) =>
  n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`;

/** The success ping's body: what was backed up, how big, how long. */
export function successSummary(s: { runId: string; trigger: string; database: string; durationMs: number; manifest?: Manifest; dump?: string }): string {
  const m = s.manifest;
  const what = m
    ? `${Object.keys(m.tables).length} tables, ${m.totalRows} rows, ${fmtBytes(m.file.bytes)}, sha256 ${m.file.sha256.slice(0, 16)}…, ${m.consistency}`
    : 'no manifest recorded';
  return `${[
    `turso-backup ${s.trigger} backup of ${s.database}: OK in ${fmtDuration(s.durationMs)}`,
    `${s.dump ?? m?.file.name ?? ''}: ${what}`,
    `run ${s.runId}`,
  ].join('\n')}\n`;
}

/** The failure ping's body. */
export function failureSummary(f: FailureFacts): string {
  return `${[
    `turso-backup ${f.trigger} backup of ${f.database}: FAILED at stage "${f.stage}" (${f.code}) after ${fmtDuration(f.durationMs)}`,
    f.message,
    `run ${f.runId}`,
  ].join('\n')}\n`;
}
