/**
 * Starting the project's worker threads (the backup's reader, the restore's verifier) the same way whether the code
 * runs built (a `.js` file beside this one) or from the TypeScript sources (loaded through tsx, as the parent is).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';

/** tsx's ESM API (its CommonJS build cannot be imported from a module). */
function tsxRegisterUrl(): string {
  const pkgPath = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api']!.import.default)).href;
}

/**
 * Starts the worker whose entry is `entry` (a path relative to src/, without extension: 'backup/read-worker').
 * Its heap holds a page or two at a time: `resourceLimits` keeps it small (RSS is a budget, docs/BENCHMARKS.md).
 */
export function spawnWorker(entry: string, workerData: unknown, resourceLimits: ResourceLimits = { maxYoungGenerationSizeMb: 8 }): Worker {
  const root = new URL('./', import.meta.url);
  const built = new URL(`${entry}.js`, root);
  if (existsSync(fileURLToPath(built))) return new Worker(built, { workerData, resourceLimits });
  // The bundled CLI (bin/turso-backup.mjs) puts every entry beside its chunks, flat.
  const flat = new URL(`./${entry.split('/').pop()}.js`, root);
  if (existsSync(fileURLToPath(flat))) return new Worker(flat, { workerData, resourceLimits });
  // From the sources (tests, tsx): tsx's loader first. Not a plain import() that falls back on failure: Node 22.18+
  // and 24 strip types themselves, so the entry loads natively, and then its `.js` imports of `.ts` files fail.
  const ts = JSON.stringify(new URL(`${entry}.ts`, root).href);
  const tsx = JSON.stringify(tsxRegisterUrl());
  const boot = `import(${tsx}).then((tsx) => tsx.register()).then(() => import(${ts}));`;
  return new Worker(boot, { eval: true, workerData, resourceLimits });
}
