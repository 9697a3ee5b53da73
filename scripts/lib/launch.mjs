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
 * (bench/probe.cjs finds the working process by that name). The child gets node's flags and environment from
 * bin/relaunch.mjs, as the package's bin does; signals are passed on and its exit status mirrored there.
 * TURSO_BACKUP_INPROCESS=1 runs the command in this process instead (through tsx, from the sources).
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runChild } from '../../bin/relaunch.mjs';
import { buildNative } from './native.mjs';
import { builtHash, ROOT, sourceHash } from './sources.mjs';

export { NODE_FLAGS, remoteDatabase } from '../../bin/relaunch.mjs';

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
  runChild(command, entry, argv, { TURSO_BACKUP_ALIAS: '1' });
}
