/**
 * A disk that refuses to grow a file, for tests of what a writer does when its disk fills up mid-write. A real full
 * disk cannot be made without mounting a filesystem; RLIMIT_FSIZE (`ulimit -f`) gives the same failure at the same
 * place: the write that crosses the limit is cut short and the next one fails (EFBIG, where a full disk says ENOSPC).
 * Node ignores SIGXFSZ, so the process gets the error instead of being killed.
 *
 * The limit is a process's: it is set on this process with util-linux `prlimit` (Linux) for the duration of `fn`
 * only. Vitest runs each test file in a process of its own (the forks pool), so no other test file is affected;
 * this refuses to run in a worker thread, where the limit would reach every thread of the process.
 */
import { execFileSync } from 'node:child_process';
import { isMainThread } from 'node:worker_threads';

/** The soft and hard RLIMIT_FSIZE of this process, as prlimit prints them (`unlimited` or a byte count). */
function currentLimit(): string {
  const out = execFileSync('prlimit', ['--pid', String(process.pid), '--fsize', '--output=SOFT,HARD', '--noheadings', '--raw'], { encoding: 'utf8' });
  const [soft, hard] = out.trim().split(/\s+/);
  return `${soft}:${hard}`;
}

/** Runs `fn` while no file written by this process may grow beyond `bytes`; the previous limit is restored after. */
export async function withFileSizeLimit<T>(bytes: number, fn: () => Promise<T>): Promise<T> {
  if (!isMainThread) throw new Error('withFileSizeLimit: RLIMIT_FSIZE is per process; run this test in a process of its own (vitest forks pool)');
  const previous = currentLimit();
  execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${bytes}:${previous.split(':')[1]}`]);
  try {
    return await fn();
  } finally {
    execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${previous}`]);
  }
}
