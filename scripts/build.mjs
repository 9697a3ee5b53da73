#!/usr/bin/env node
/**
 * `npm run build` (also `prepare`, so `npm ci` builds): compiles src/ to dist/ (JavaScript + .d.ts) with tsc and
 * native/ to dist/native/ with the C compiler when there is one (scripts/lib/native.mjs), and records the sources'
 * hash in dist/BUILD.json. Built into a temporary folder and swapped in whole, so a command running meanwhile never
 * sees half a dist/, and a failed build leaves the previous one.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { buildNative } from './lib/native.mjs';
import { ROOT, sourceHash } from './lib/sources.mjs';

// Hashed before compiling: a source edited during the build makes the stamp stale, never the other way round.
const sources = sourceHash();
const tmp = join(ROOT, `dist.tmp-${process.pid}`);
const old = join(ROOT, `dist.old-${process.pid}`);
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // A production install (npm ci --omit=dev) runs prepare without the compiler: say so, and do not fail the install.
  console.error('build: typescript is not installed (dev dependencies omitted): dist/ was not built; run `npm run build` with them');
  process.exit(0);
}
const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', tmp], { stdio: 'inherit', cwd: ROOT });
if (r.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  console.error('build: tsc failed; dist/ is unchanged');
  process.exit(r.status ?? 1);
}
chmodSync(join(tmp, 'cli', 'bin.js'), 0o755);
buildNative(join(tmp, 'native'));
writeFileSync(join(tmp, 'BUILD.json'), `${JSON.stringify({ sources, builtAt: new Date().toISOString() })}\n`);
const dist = join(ROOT, 'dist');
if (existsSync(dist)) renameSync(dist, old);
renameSync(tmp, dist);
rmSync(old, { recursive: true, force: true });
