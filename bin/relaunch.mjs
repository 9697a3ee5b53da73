/**
 * The node process a command runs in: the package's bin (turso-backup.mjs) and the checkout's `scripts/*.ts` aliases
 * (scripts/lib/launch.mjs) both hand the command to a plain `node` child started with the flags and environment
 * below, because neither can be set from inside a running process: V8 sizes its heap when the isolate is created, and
 * glibc reads MALLOC_ARENA_MAX when the process starts. `NODE_OPTIONS` cannot carry `--single-threaded-gc` or
 * `--initial-heap-size` either. Measured on the bench shapes (docs/BENCHMARKS.md, session 27): the bin run
 * in-process peaked at 148–155 MB restoring the wide shape (140–143 MB in the child) and 159–163 MB backing up the
 * large one (149–155 MB), over the 160 MB budget. The child costs one more node start (~0.1 s). It is skipped when
 * this process already is that child, when node was given such flags by hand (the operator chose), or with
 * TURSO_BACKUP_INPROCESS=1.
 * Signals: the child shares the terminal's process group, so Ctrl-C reaches it directly; a SIGINT or SIGTERM sent to
 * this process alone is passed on. Its exit status is mirrored.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dotEnvValues } from './dotenv.mjs';

/**
 * --single-threaded-gc: V8 collects on the thread that allocated, without its helper threads. Every command already
 * keeps both cores busy with its own threads (a reader or verifier thread, the thread pool's gzip), and V8's
 * helpers took ~0.9 s of CPU from them in a 3.3 s restore of the wide shape: alternating, restores took 4-5 % less
 * time on wide and events, backups 3-7 % less, at the same peak RSS locally; a restore into a remote database peaks
 * ~10 MB higher (165-168 MB, under its 200 MB; docs/BENCHMARKS.md). --max-semi-space-size=4: a small young
 * generation keeps short-lived garbage from inflating the heap.
 */
export const NODE_FLAGS = ['--max-semi-space-size=4', '--single-threaded-gc'];

/**
 * --v8-pool-size=1: one V8 worker thread (JIT compiles; the collector no longer uses them). With MALLOC_ARENA_MAX=2,
 * glibc hands each thread's first malloc the next of the two arenas in turn, so how many threads start before the
 * restore's verifying thread decides whether it shares the main thread's arena: with V8's four workers it did in
 * every run looked at (gdb, node 20 and 22), and both threads malloc ~0.5M times in a load; with one worker it had
 * the other arena in every run. Documents restore: 3.5–4.1 s against 4.1–5.0 s (docs/BENCHMARKS.md, session 31).
 * Not for a remote database: no thread follows a remote load, and with the JavaScript of the HTTP protocol on the
 * hot path the client took 4–10 % more CPU with one compiler thread.
 */
export const LOCAL_FLAGS = ['--v8-pool-size=1'];

/**
 * Over HTTP every response arrives in new memory outside the heap (socket reads, the body, the rows), and V8 counts
 * that memory against the old generation's limit, which a small heap keeps small: a remote backup of the 200k-row
 * events shape ran 17-19 full collections (2.1 s of client CPU), with a 64 MB initial heap one (1.75 s), at 5 MB
 * more peak RSS; the remote restore 25-26 against 6-7. A local run gains nothing from it and the wide shape's restore
 * once peaked at 160 MB with it, so it goes only to a command whose database looks remote (remoteDatabase).
 */
export const REMOTE_FLAGS = ['--initial-heap-size=64'];

/** Set in the child's environment: "the flags are applied", so the child runs the command itself. */
const MARKER = 'TURSO_BACKUP_CHILD';

/**
 * Whether the command's database is remote, as the CLI will find it (cli/connection.ts): `--db` or `--target`, else
 * TURSO_DATABASE_URL, else that variable in `./.env`, read by dotenv.mjs as cli/env-file.ts reads it (`${NAME}`
 * expanded, `env` first). Only a heap size hangs on the answer: a wrong guess costs speed or memory, never correctness.
 */
export function remoteDatabase(argv, env = process.env, cwd = process.cwd()) {
  let url;
  for (let i = 0; i < argv.length && argv[i] !== '--'; i++) {
    const m = /^--(db|target)(?:=(.*))?$/.exec(argv[i]);
    if (m) url = m[2] ?? argv[i + 1];
  }
  url ??= env.TURSO_DATABASE_URL;
  if (url === undefined) {
    try {
      url = dotEnvValues(readFileSync(join(cwd, '.env'), 'utf8'), env).TURSO_DATABASE_URL;
    } catch {
      // no .env, an unreadable one or a loop in it: the CLI says what is missing or wrong
    }
  }
  return /^\s*(libsql|https?|wss?):/i.test(url ?? '');
}

/** node's arguments for the child that runs `entry` with the command's arguments `argv`. */
function childArgs(entry, argv, env = process.env, cwd = process.cwd()) {
  return [...NODE_FLAGS, ...(remoteDatabase(argv, env, cwd) ? REMOTE_FLAGS : LOCAL_FLAGS), entry, ...argv];
}

/**
 * The child's environment. MALLOC_ARENA_MAX=2 (unless set): glibc gives every thread that allocates its own malloc
 * arena, and the freed memory of the main thread, the reader or verifier thread and the zlib pool threads stays in
 * theirs. Measured (docs/BENCHMARKS.md): restore peak RSS 155–164 → 139–143 MB on the wide shape (1× and 3×),
 * backups 6–10 MB less, at the cost of ~10 % more time on the events restore.
 */
function childEnv(env = process.env, extra = {}) {
  return { ...env, MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX || '2', [MARKER]: '1', ...extra };
}

/** The names of the flags a local command is started with (NODE_FLAGS, LOCAL_FLAGS): given by hand, they stand. */
const CHOSEN_BY_HAND = [...NODE_FLAGS, ...LOCAL_FLAGS].map((f) => f.split('=')[0]);

/**
 * Whether this process should run the command itself: it is the child already (src/cli/bin.ts removes the marker, so
 * that nothing the command starts inherits it), node was given a young generation's size, the GC's threading or V8's
 * pool size by hand (on its command line or in NODE_OPTIONS, which the child's flags would override), or
 * TURSO_BACKUP_INPROCESS=1.
 */
export function runsHere(env = process.env, execArgv = process.execArgv) {
  const chosen = (a) => CHOSEN_BY_HAND.some((name) => a === name || a.startsWith(`${name}=`));
  return env[MARKER] === '1' || env.TURSO_BACKUP_INPROCESS === '1' || execArgv.some(chosen) || (env.NODE_OPTIONS ?? '').split(/\s+/).some(chosen);
}

/**
 * Runs `node <flags> entry argv` with childEnv() and `extra` variables, and mirrors its exit: this process ends when
 * the child does.
 * When node cannot be started again (`fallback` given: the bin), the command runs in this process instead, without
 * the flags: a node binary this user may run but not reach by its real path (a setuid or setpriv start from a
 * directory the user cannot search) says EACCES. Otherwise `name` prefixes a one-line error.
 */
export function runChild(name, entry, argv, extra = {}, fallback = null) {
  const child = spawn(process.execPath, childArgs(entry, argv), { stdio: 'inherit', env: childEnv(process.env, extra) });
  // Passed on, whoever sent it: a Ctrl-C reaches the child directly too, and the command takes a second signal
  // within a second as the same one (cli/run.ts); a signal sent to this process alone (tsx relaying one, a
  // supervisor, `kill PID`) reaches it only this way. Then wait for the child, which winds down and cleans up.
  const onInt = () => child.kill('SIGINT');
  const onTerm = () => child.kill('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  child.on('error', (e) => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    if (fallback) {
      if (process.env.DEBUG === '1') process.stderr.write(`${name}: cannot start node (${e.message}); running it here\n`);
      return void fallback();
    }
    process.stderr.write(`${name}: error: cannot start node: ${e.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 143)));
}
