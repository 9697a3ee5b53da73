/**
 * The `scripts/*.ts` aliases (`npx tsx scripts/backup-turso.ts …`) run their command in a plain `node` child, never
 * under tsx: its TypeScript loader costs ~35 MB of resident memory, and a backup has a flat memory budget
 * (docs/DESIGN.md "Memory"). This module imports nothing from src/, so the tsx-loaded wrapper stays as thin as tsx
 * allows. The child runs:
 *   - bin/turso-backup.mjs (dist/) when dist/ was built from exactly the current sources (dist/BUILD.json);
 *   - otherwise a bundle of the current sources made by esbuild (a dev dependency) into
 *     node_modules/.cache/turso-backup/cli-<sources hash>/, with the native inflate module when a C compiler is
 *     there (scripts/lib/native.mjs), built once per version of the sources.
 * So an edited source is always what runs, and a stale dist/ never is. Both entries end in `turso-backup.mjs`
 * (bench/probe.cjs finds the working process by that name). The child gets --max-semi-space-size=4 (a small young
 * generation keeps short-lived garbage from inflating the heap) and --single-threaded-gc (NODE_FLAGS), and a larger
 * initial heap when the database is remote (REMOTE_FLAGS). Signals: the
 * child shares the terminal's process group, so Ctrl-C reaches it directly; a SIGINT or SIGTERM sent to this process
 * is passed on. Its exit status is mirrored.
 * TURSO_BACKUP_INPROCESS=1 runs the command in this process instead (through tsx, from the sources).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseEnv } from 'node:util';
import { buildNative } from './native.mjs';
import { builtHash, ROOT, sourceHash } from './sources.mjs';

/**
 * --single-threaded-gc: V8 collects on the thread that allocated, without its helper threads. Every command already
 * keeps both cores busy with its own threads (a reader or verifier thread, the thread pool's gzip), and V8's
 * helpers took ~0.9 s of CPU from them in a 3.3 s restore of the wide shape: alternating, restores took 4-5 % less
 * time on wide and events, backups 3-7 % less, at the same peak RSS locally; a restore into a remote database peaks
 * ~10 MB higher (165-168 MB, under its 200 MB; docs/BENCHMARKS.md).
 */
const NODE_FLAGS = ['--max-semi-space-size=4', '--single-threaded-gc'];

/**
 * Over HTTP every response arrives in new memory outside the heap (socket reads, the body, the rows), and V8 counts
 * that memory against the old generation's limit, which a small heap keeps small: a remote backup of the 200k-row
 * events shape ran 17-19 full collections (2.1 s of client CPU), with a 64 MB initial heap one (1.75 s), at 5 MB
 * more peak RSS; the remote restore 25-26 against 6-7. A local run gains nothing from it and the wide shape's restore
 * once peaked at 160 MB with it, so it goes only to a command whose database looks remote (remoteDatabase).
 */
const REMOTE_FLAGS = ['--initial-heap-size=64'];

/**
 * Whether the command's database is remote, as the CLI will find it (cli/connection.ts): `--db` or `--target`, else
 * TURSO_DATABASE_URL, else that variable in `./.env` (cli/env-file.ts reads it the same way). Only a heap size hangs
 * on the answer: a wrong guess costs speed or memory, never correctness.
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
      url = parseEnv(readFileSync(join(cwd, '.env'), 'utf8')).TURSO_DATABASE_URL;
    } catch {
      // no .env: the CLI says what is missing
    }
  }
  return /^\s*(libsql|https?|wss?):/i.test(url ?? '');
}
const CACHE = join(ROOT, 'node_modules', '.cache', 'turso-backup');

/** Bundles the current sources (the CLI and the two worker threads' entries, flat, as src/worker.ts expects). */
async function bundle(hash) {
  const out = join(CACHE, `cli-${hash}`);
  const entry = join(out, 'turso-backup.mjs');
  if (existsSync(entry)) return entry;
  const { build } = await import('esbuild');
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  await build({
    entryPoints: {
      cli: join(ROOT, 'src', 'cli', 'bin.ts'),
      'checksum-worker': join(ROOT, 'src', 'restore', 'checksum-worker.ts'),
      'read-worker': join(ROOT, 'src', 'backup', 'read-worker.ts'),
    },
    outdir: tmp,
    // Dynamic imports stay lazy chunks: a local backup never loads the Hrana client or @vercel/blob.
    splitting: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'silent',
  });
  buildNative(join(tmp, 'native')); // where src/format/inflate.ts looks from a chunk of the bundle
  writeFileSync(join(tmp, 'package.json'), '{"type":"module"}\n');
  writeFileSync(join(tmp, 'turso-backup.mjs'), "import './cli.js';\n");
  try {
    renameSync(tmp, out);
  } catch (e) {
    // Another process bundled the same sources first: use theirs.
    if (!existsSync(entry)) throw e;
    rmSync(tmp, { recursive: true, force: true });
  }
  pruneCache(out);
  return entry;
}

/** Bundles of older sources, untouched for a day (none can still be running), are removed. */
function pruneCache(keep) {
  const dayAgo = Date.now() - 86_400_000;
  for (const name of readdirSync(CACHE)) {
    const p = join(CACHE, name);
    try {
      if (p !== keep && name.startsWith('cli-') && statSync(p).mtimeMs < dayAgo) rmSync(p, { recursive: true, force: true });
    } catch {
      // another process pruned it
    }
  }
}

/** What the child runs: dist/ when it is exactly the current sources, else their bundle. */
export async function entryPoint() {
  const hash = sourceHash();
  if (builtHash() === hash && existsSync(join(ROOT, 'dist', 'cli', 'bin.js'))) return join(ROOT, 'bin', 'turso-backup.mjs');
  return bundle(hash);
}

async function inProcess(argv) {
  const { main } = await import(pathToFileURL(join(ROOT, 'src', 'cli', 'main.ts')).href);
  main(argv, { alias: true });
}

/**
 * The child's environment. MALLOC_ARENA_MAX=2 (unless set): glibc gives every thread that allocates its own malloc
 * arena, and the freed memory of the main thread, the reader or verifier thread and the zlib pool threads stays in
 * theirs. Measured (docs/BENCHMARKS.md): restore peak RSS 155–164 → 139–143 MB on the wide shape (1× and 3×),
 * backups 6–10 MB less, at the cost of ~10 % more time on the events restore.
 */
function childEnv() {
  return { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX || '2', TURSO_BACKUP_ALIAS: '1' };
}

/** Runs `turso-backup <command> <this process's arguments>` in a plain node child and mirrors its exit. */
export async function launch(command) {
  const argv = [command, ...process.argv.slice(2)];
  if (process.env.TURSO_BACKUP_INPROCESS === '1') return inProcess(argv);
  let entry;
  try {
    entry = await entryPoint();
  } catch (e) {
    // No esbuild (a production install) or an unwritable node_modules: run from the sources here, slower but right.
    if (process.env.DEBUG === '1') process.stderr.write(`turso-backup: cannot bundle the sources (${e?.message ?? e}); running them in-process\n`);
    return inProcess(argv);
  }
  const flags = remoteDatabase(argv) ? [...NODE_FLAGS, ...REMOTE_FLAGS] : NODE_FLAGS;
  const child = spawn(process.execPath, [...flags, entry, ...argv], { stdio: 'inherit', env: childEnv() });
  // Passed on, whoever sent it: a Ctrl-C reaches the child directly too, and the command takes a second signal
  // within a second as the same one (cli/run.ts); a signal sent to this process alone (tsx relaying one, a
  // supervisor, `kill PID`) reaches it only this way. Then wait for the child, which winds down and cleans up.
  process.on('SIGINT', () => child.kill('SIGINT'));
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('error', (e) => {
    process.stderr.write(`${command}: error: cannot start node: ${e.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 143)));
}
