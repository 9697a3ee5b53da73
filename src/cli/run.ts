/**
 * The frame every command runs in: one-line errors mapped from error codes to exit statuses (2 usage/config,
 * 1 failed operation, 3 a check found problems), stack traces only with DEBUG=1, with --json a last stdout line
 * `{"ok":false,"code","message"}` on failure, and SIGINT/SIGTERM turned into an orderly abort that removes partial
 * output.
 */
import { runInterruptCleanups } from '../cleanup.js';
import { BackupError, describeError, errorCodeOf, exitCodeFor, scrub, type ErrorCode } from '../errors.js';
import { jsonLine, terminalSafe } from './output.js';

export { describeError, scrub };

const debug = () => process.env.DEBUG === '1' || process.env.DEBUG === 'true';

export interface RunOptions {
  /** --json was given: a failure also ends stdout with one JSON line. */
  json?: boolean;
  /** Error codes that mean "the check found problems" for this command (exit 3). */
  problems?: readonly ErrorCode[];
  /** The command's synopsis, added to a usage error (`migrate-turso [flags]`). */
  usage?: string;
}

/** The failure as one JSON line on stdout (the machine's view of the one-line error). */
function jsonFailure(e: unknown, message: string): void {
  process.stdout.write(`${jsonLine({ ok: false, code: errorCodeOf(e), message })}\n`);
}

/** Prints the error as one line (plus the JSON line with --json, the stack with DEBUG=1) and exits. */
export function fail(e: unknown, command: string, opts: RunOptions = {}): never {
  let line = terminalSafe(scrub(describeError(e)).split('\n')[0]!);
  if (opts.usage && e instanceof BackupError && e.code === 'USAGE') line += ` (usage: ${opts.usage}; --help lists the flags)`;
  process.stderr.write(`${command}: error: ${line}\n`);
  if (debug()) process.stderr.write(`${scrub(String((e as Error)?.stack ?? e))}\n`);
  if (opts.json) jsonFailure(e, line);
  process.exit(exitCodeFor(e, opts.problems));
}

/** Resolves once what was written to stdout and stderr is handed to the OS (writes to a pipe can be queued). */
function outputWritten(): Promise<unknown> {
  const flushed = (s: NodeJS.WriteStream) => new Promise<void>((resolve) => (s.writableLength === 0 || s.destroyed ? resolve() : s.write('', () => resolve())));
  return Promise.all([flushed(process.stdout), flushed(process.stderr)]);
}

/**
 * Runs a command's main function. An AbortSignal is passed that fires on SIGINT/SIGTERM; registered cleanups run
 * before the process exits.
 */
export function runCommand(command: string, main: (signal: AbortSignal) => Promise<number | undefined>, opts: RunOptions = {}): void {
  const ac = new AbortController();
  let interrupted = 0;
  let signalExit = 130;
  const onSignal = (sig: NodeJS.Signals) => {
    // A second signal means "now": but not the duplicate a wrapper and a process group can deliver together.
    if (interrupted && Date.now() - interrupted > 1000) process.exit(130);
    if (interrupted) return;
    interrupted = Date.now();
    signalExit = sig === 'SIGINT' ? 130 : 143;
    process.stderr.write(`${command}: ${sig} received, stopping…\n`);
    ac.abort(new BackupError('INTERRUPTED', `interrupted by ${sig}`));
    // If the operation does not wind down promptly, clean up and leave anyway.
    setTimeout(() => {
      void runInterruptCleanups().then(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    }, 10_000).unref();
  };
  // A closed pipe (`| head`) is the reader's choice, not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    });
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main(ac.signal)
    .then(async (code) => {
      await runInterruptCleanups();
      // Exit here rather than when the event loop drains: node puts the signals' default action back while it tears
      // the loop down, and a Ctrl-C in that window killed a command that had finished (a restore published and
      // verified, then exit status 130, "interrupted").
      await outputWritten();
      process.exit(code ?? 0);
    })
    .catch(async (e) => {
      await runInterruptCleanups();
      if (interrupted && (!(e instanceof BackupError) || e.code === 'INTERRUPTED')) {
        const what = terminalSafe(e instanceof BackupError ? e.message : 'interrupted');
        process.stderr.write(`${command}: ${what}\n`);
        if (opts.json) jsonFailure(new BackupError('INTERRUPTED', what), what);
        process.exit(signalExit);
      }
      fail(e, command, opts);
    });
}
