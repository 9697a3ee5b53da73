#!/usr/bin/env node
/**
 * `turso-backup <command> [flags]`: the package's bin. It runs the compiled JavaScript in dist/ directly: no
 * TypeScript loader, no bundler at run time (tsx's loader alone costs ~35 MB of resident memory, docs/DESIGN.md),
 * in a node child started with the memory flags and environment of relaunch.mjs (the same as the checkout's
 * aliases get). In a checkout, `npm ci` builds dist/ (`prepare`); `npx tsx scripts/<alias>.ts` always runs the
 * current sources.
 */
import { fileURLToPath } from 'node:url';
import { runChild, runsHere } from './relaunch.mjs';

/** The command, in this process. */
async function run() {
  try {
    await import('../dist/cli/bin.js');
  } catch (e) {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/cli/bin.js')) throw e;
    process.stderr.write('turso-backup: error: dist/ is missing: run `npm run build` (or `npx tsx scripts/<command>.ts` in a checkout)\n');
    process.exit(2);
  }
}

if (runsHere()) await run();
else runChild('turso-backup', fileURLToPath(import.meta.url), process.argv.slice(2), {}, run);
