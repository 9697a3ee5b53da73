/**
 * The frame every command runs in: one-line errors mapped from error codes to exit statuses (2 usage/config,
 * 1 failed operation), stack traces only with DEBUG=1, and SIGINT/SIGTERM turned into an orderly abort that
 * removes partial output.
 */
import { runInterruptCleanups } from '../cleanup.js';
import { BackupError, describeError, exitCodeFor, scrub } from '../errors.js';

export { describeError, scrub };

const debug = () => process.env.DEBUG === '1' || process.env.DEBUG === 'true';

export function fail(e: unknown, command: string): never {
  const line = scrub(describeError(e)).split('\n')[0]!;
  process.stderr.write(`${command}: error: ${line}\n`);
  if (debug()) process.stderr.write(`${scrub(String((e as Error)?.stack ?? e))}\n`);
  process.exit(exitCodeFor(e));
}

/**
 * Runs a command's main function. An AbortSignal is passed that fires on SIGINT/SIGTERM; registered cleanups run
 * before the process exits.
 */
export function runCommand(command: string, main: (signal: AbortSignal) => Promise<number | void>): void {
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
      process.exitCode = code ?? 0;
    })
    .catch(async (e) => {
      await runInterruptCleanups();
      if (interrupted && (!(e instanceof BackupError) || e.code === 'INTERRUPTED')) {
        const what = e instanceof BackupError ? e.message : 'interrupted';
        process.stderr.write(`${command}: ${what}\n`);
        process.exit(signalExit);
      }
      fail(e, command);
    });
}
