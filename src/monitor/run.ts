/**
 * A monitored backup run: the one object the CLI and the cron hook into.
 *
 *   const run = startRun('cron');                 // run id, start time, notification targets
 *   await backup(opts, run.track(sink));          // knows the stage; adds the run's summary to the manifest
 *   const report = await run.succeeded();         // heartbeat ping          → report in the run's output
 *   const report = await run.failed(e[, stage]);  // alert + heartbeat /fail → report in the run's output
 *
 * Notifications are bounded (notify.ts: 10 s for all of them together, sent in parallel) and never throw: a dead
 * webhook is reported, never turned into a failed backup.
 */
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { BackupError } from '../errors.js';
import type { Manifest, ManifestRun } from '../format/lines.js';
import type { Sink } from '../sink/types.js';
import { parseDatabaseUrl } from '../db/url.js';
import { alertPayload, type FailureFacts, type Stage } from './alert.js';
import { failUrlOf, failureSummary, successSummary, withRunId } from './heartbeat.js';
import { describeOutcome, notifyUrl, notSent, oneLine, postBounded, redact, type NotifyOutcome } from './notify.js';

export type Trigger = 'cli' | 'cron';

/** What a run reports about itself in its own output (the cron's JSON body, the CLI's stderr). */
export interface RunReport {
  runId: string;
  notifications: NotifyOutcome[];
}

export interface MonitoredRun {
  readonly id: string;
  readonly trigger: Trigger;
  /** Wraps the run's sink: records the stage reached, and adds `run` (ManifestRun) to the manifest at commit. */
  track(sink: Sink): Sink;
  succeeded(): Promise<RunReport>;
  failed(error: unknown, stage?: Stage): Promise<RunReport>;
}

interface Targets {
  alert: URL | null;
  ping: URL | null;
  fail: URL | null;
  /** Configuration problems found in lenient mode, reported with every notification round. */
  problems: NotifyOutcome[];
}

/**
 * The notification URLs. `strict` (the CLI's --alert): an unusable URL, or none at all, is a CONFIG error before
 * anything runs. Lenient (the cron): an unusable URL becomes a "not sent" outcome, and the backup runs anyway.
 */
export function notifyTargets(env: NodeJS.ProcessEnv, strict: boolean): Targets {
  const problems: NotifyOutcome[] = [];
  const read = (name: string, what: string): URL | null => {
    try {
      return notifyUrl(name, env);
    } catch (e) {
      if (strict) throw e;
      problems.push(notSent(what, (e as Error).message));
      return null;
    }
  };
  const alert = read('BACKUP_ALERT_WEBHOOK_URL', 'alert webhook');
  const ping = read('BACKUP_HEARTBEAT_URL', 'heartbeat');
  const failOverride = read('BACKUP_HEARTBEAT_FAIL_URL', 'heartbeat failure');
  if (strict && !alert && !ping) {
    throw new BackupError('CONFIG', '--alert needs BACKUP_ALERT_WEBHOOK_URL and/or BACKUP_HEARTBEAT_URL to be set');
  }
  const fail = ping || failOverride ? failUrlOf(ping ?? failOverride!, failOverride) : null;
  return { alert, ping, fail, problems };
}

/** The database as an alert may name it: a remote URL's host, a local file's name; never a query or credentials. */
export function databaseLabel(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.TURSO_DATABASE_URL?.trim();
  if (!url) return '(TURSO_DATABASE_URL not set)';
  try {
    // A remote URL's host even when the URL is refused for carrying credentials: the alert says which database.
    if (/^(libsql|https?|wss?):\/\//i.test(url)) return new URL(url).host || '(unknown host)';
    const loc = parseDatabaseUrl(url);
    return loc.kind === 'file' ? `file ${basename(loc.path)}` : '(invalid TURSO_DATABASE_URL)';
  } catch {
    return '(invalid TURSO_DATABASE_URL)';
  }
}

type Phase = 'before' | 'opening' | 'writing' | 'committing' | 'committed';

/** The stage a failure belongs to: explicit, else by error code, else by how far the sink got. */
export function stageOf(e: unknown, phase: Phase, explicit?: Stage): Stage {
  if (explicit) return explicit;
  const code = e instanceof BackupError ? e.code : undefined;
  if (code === 'CONFIG' || code === 'USAGE') return 'config';
  if (code === 'INTERRUPTED') return 'interrupted';
  return ({ before: 'connect', opening: 'store', writing: 'dump', committing: 'commit', committed: 'commit' } as const)[phase];
}

/** Starts a monitored run. `notify` false: the manifest still gets the run's summary, nothing is sent. */
export function startRun(trigger: Trigger, opts: { notify?: boolean; strict?: boolean; env?: NodeJS.ProcessEnv } = {}): MonitoredRun {
  const env = opts.env ?? process.env;
  const targets: Targets = opts.notify ? notifyTargets(env, opts.strict ?? false) : { alert: null, ping: null, fail: null, problems: [] };
  const id = randomUUID();
  const started = Date.now();
  let phase: Phase = 'before';
  let manifest: Manifest | undefined;
  let dump: string | undefined;
  const elapsed = () => Date.now() - started;

  const send = async (jobs: Promise<NotifyOutcome>[]): Promise<RunReport> => {
    const notifications = [...targets.problems, ...(await Promise.all(jobs))];
    // The cron's response body is not kept anywhere an operator looks: its log lines are.
    if (trigger === 'cron') for (const o of notifications) if (!o.ok) console.error(`monitor: warning: ${describeOutcome(o)}`);
    return { runId: id, notifications };
  };

  return {
    id,
    trigger,
    track(sink: Sink): Sink {
      dump = sink.label.replaceAll('blob:', '');
      return {
        ...sink,
        open: async () => {
          phase = 'opening';
          await sink.open();
          phase = 'writing';
        },
        commit: async (m) => {
          phase = 'committing';
          const finished = Date.now();
          const run: ManifestRun = {
            id,
            trigger,
            startedAt: new Date(started).toISOString(),
            finishedAt: new Date(finished).toISOString(),
            durationMs: finished - started,
          };
          // On the manifest itself: the caller reads back what the sinks under this one recorded in it.
          m.run = run;
          manifest = m;
          const r = await sink.commit(m);
          phase = 'committed';
          return r;
        },
      };
    },
    async succeeded() {
      const body = redact(successSummary({ runId: id, trigger, database: databaseLabel(env), durationMs: elapsed(), manifest, dump }), env);
      return send(targets.ping ? [postBounded('heartbeat', withRunId(targets.ping, id), body, 'text/plain; charset=utf-8')] : []);
    },
    async failed(error: unknown, stage?: Stage) {
      // A usage error is a person at a terminal, not a failed backup.
      if (error instanceof BackupError && error.code === 'USAGE') return { runId: id, notifications: [] };
      const facts = failureFacts({ id, trigger, started, env, error, stage: stageOf(error, phase, stage), dump: phase === 'before' ? undefined : dump });
      const jobs: Promise<NotifyOutcome>[] = [];
      if (targets.alert) jobs.push(postBounded('alert webhook', targets.alert, JSON.stringify(alertPayload(facts)), 'application/json'));
      if (targets.fail) jobs.push(postBounded('heartbeat failure', withRunId(targets.fail, id), failureSummary(facts), 'text/plain; charset=utf-8'));
      return send(jobs);
    },
  };
}

function failureFacts(r: { id: string; trigger: Trigger; started: number; env: NodeJS.ProcessEnv; error: unknown; stage: Stage; dump?: string }): FailureFacts {
  const finished = Date.now();
  const e = r.error;
  const message = e instanceof BackupError ? e.message : `unexpected error: ${(e as Error)?.message ?? String(e)}`;
  return {
    runId: r.id,
    trigger: r.trigger,
    database: databaseLabel(r.env),
    stage: r.stage,
    code: e instanceof BackupError ? e.code : 'INTERNAL',
    message: oneLine(redact(message, r.env)),
    startedAt: new Date(r.started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs: finished - r.started,
    ...(r.dump ? { dump: r.dump } : {}),
  };
}

/** Prints a run's notification outcomes to stderr: failures always, successes unless quiet. */
export function printRunReport(command: string, report: RunReport, quiet: boolean): void {
  for (const o of report.notifications) {
    if (o.ok && quiet) continue;
    process.stderr.write(`${command}: ${o.ok ? '' : 'warning: '}${describeOutcome(o)}\n`);
  }
}

/**
 * The CLI hook: runs `fn` as a monitored run. With `--alert` in argv the notification URLs are checked first (a
 * CONFIG error, exit 2, before the database is touched) and the outcome is sent; the run's own result (exit status
 * or error) is never changed by a notification.
 */
export async function withRunReport(command: string, argv: string[], fn: (run: MonitoredRun) => Promise<number>): Promise<number> {
  const run = startRun('cli', { notify: argv.includes('--alert'), strict: true });
  const quiet = argv.includes('--quiet');
  let code: number;
  try {
    code = await fn(run);
  } catch (e) {
    printRunReport(command, await run.failed(e), quiet);
    throw e;
  }
  printRunReport(command, await run.succeeded(), quiet);
  return code;
}
