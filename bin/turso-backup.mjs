#!/usr/bin/env node
/**
 * `turso-backup <command> [args]`. Runs the TypeScript sources as plain JavaScript: they are bundled once with
 * esbuild into node_modules/.cache (rebuilt when any source changes), so a command runs without a TypeScript
 * loader in the process. That loader (tsx) costs ~35 MB of resident memory on its own, a fifth of the backup's
 * memory budget (docs/DESIGN.md).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function sourceHash() {
  const h = createHash('sha256');
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts')) h.update(p).update(readFileSync(p));
    }
  };
  walk(join(root, 'src'));
  h.update(readFileSync(join(root, 'package.json')));
  return h.digest('hex').slice(0, 16);
}

async function bundle() {
  const cache = join(root, 'node_modules', '.cache', 'turso-backup');
  const out = join(cache, `cli-${sourceHash()}`);
  const entry = join(out, 'main.js');
  if (existsSync(entry)) return entry;
  const { build } = await import('esbuild');
  mkdirSync(cache, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  await build({
    // The restore's verifying thread (src/restore/load-verifier.ts) loads its own entry from beside the chunks.
    entryPoints: {
      main: join(root, 'src', 'cli', 'main.ts'),
      'checksum-worker': join(root, 'src', 'restore', 'checksum-worker.ts'),
      'read-worker': join(root, 'src', 'backup', 'read-worker.ts'),
    },
    outdir: tmp,
    outExtension: { '.js': '.js' },
    // Dynamic imports stay lazy chunks: a local backup never loads @libsql/client or @vercel/blob.
    splitting: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'silent',
  });
  writeFileSync(join(tmp, 'package.json'), '{"type":"module"}\n');
  try {
    renameSync(tmp, out);
  } catch (e) {
    // Another process built the same sources first: use theirs.
    if (!existsSync(entry)) throw e;
    rmSync(tmp, { recursive: true, force: true });
  }
  return entry;
}

/** Without a usable bundle (no esbuild, a read-only node_modules), run the sources through tsx instead. */
async function loadMain() {
  if (process.env.TURSO_BACKUP_NO_BUNDLE !== '1') {
    try {
      return (await import(pathToFileURL(await bundle()).href)).main;
    } catch (e) {
      if (process.env.DEBUG === '1') process.stderr.write(`turso-backup: bundling failed, running through tsx: ${e?.stack ?? e}\n`);
    }
  }
  const { register } = await import('tsx/esm/api');
  register();
  return (await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href)).main;
}

(await loadMain())(process.argv.slice(2));
