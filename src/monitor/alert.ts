/**
 * The failure alert: one JSON message to BACKUP_ALERT_WEBHOOK_URL per failed run.
 *
 * The same body suits the common receivers: Slack incoming webhooks read `text` (mrkdwn, in which `&`, `<` and `>`
 * must be escaped), Discord webhooks read `content` (at most 2000 characters; `allowed_mentions` with no parse list
 * keeps a message from pinging anyone), Discord's Slack-compatible endpoint reads `text`, and anything else (a
 * relay, an incident tool) gets the structured `backup` object. Receivers ignore the fields they do not know.
 */
import { TOOL } from '../version.js';
import { oneLine } from './notify.js';

/** Where in a run a failure happened. */
export type Stage = 'config' | 'connect' | 'store' | 'dump' | 'commit' | 'retention' | 'drill' | 'interrupted';

/** What an alert says: facts only, never a token, URL credential or row data (the message is redacted first). */
export interface FailureFacts {
  runId: string;
  trigger: 'cli' | 'cron';
  /** The database's host (remote) or file name (local): never the URL with its query or credentials. */
  database: string;
  stage: Stage;
  /** The BackupError code, or INTERNAL. */
  code: string;
  /** One line, already redacted. */
  message: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** The dump's pathname or file name when the run got as far as naming it. */
  dump?: string;
}

export interface AlertPayload {
  text: string;
  content: string;
  allowed_mentions: { parse: never[] };
  backup: FailureFacts & { event: 'backup.failed'; tool: string };
}

/** Slack's mrkdwn control characters; Discord shows text as is. */
const slackEscape = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** "72 ms", "1.2 s", "3 min 4 s" */
export function fmtDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The alert message for a failed run. */
export function alertPayload(f: FailureFacts): AlertPayload {
  const summary = `turso-backup: the ${f.trigger} backup of ${f.database} FAILED at stage "${f.stage}" (${f.code}): ${oneLine(f.message, 600)}`;
  const tail = `after ${fmtDuration(f.durationMs)}; run ${f.runId}${f.dump ? `; ${f.dump} is not a complete backup` : ''}`;
  return {
    text: slackEscape(`:rotating_light: ${summary} (${tail})`),
    content: `🚨 ${summary} (${tail})`.slice(0, 2000),
    allowed_mentions: { parse: [] },
    backup: { event: 'backup.failed', tool: TOOL, ...f },
  };
}
