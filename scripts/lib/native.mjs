/**
 * Builds native/inflate.c and the libdeflate sources it uses into `<outDir>/inflate-<platform>-<arch>.node` with the
 * machine's C compiler ($CC, else cc). Node-API only, against the node-api-headers package: one build loads in every
 * Node version. Optional by design: with no compiler (or another OS) it says so in one line and returns false, and
 * the dump reader uses node:zlib (src/format/inflate.ts).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './sources.mjs';

/** Link flags per OS: an addon's napi_* symbols are resolved against the node binary that loads it. */
const LINK = { linux: ['-shared'], darwin: ['-bundle', '-undefined', 'dynamic_lookup'] };

/** The C files of the build: the binding, and libdeflate's deflate and inflate with their CPU feature detection. */
export function nativeSources() {
  const lib = join(ROOT, 'native', 'libdeflate', 'lib');
  const c = (dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.c'))
      .map((f) => join(dir, f));
  return [join(ROOT, 'native', 'inflate.c'), ...c(lib), ...c(join(lib, 'x86')), ...c(join(lib, 'arm'))];
}

/** Compiles the module into `outDir`; false (after one line on stderr) when it cannot be built here. */
export function buildNative(outDir) {
  const link = LINK[process.platform];
  if (!link) return skip(`no native build for ${process.platform}`);
  if (!existsSync(join(ROOT, 'native', 'inflate.c'))) return skip('native/ is not in this copy');
  let include;
  try {
    include = createRequire(import.meta.url)('node-api-headers').include_dir;
  } catch {
    return skip('node-api-headers is not installed');
  }
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `inflate-${process.platform}-${process.arch}.node`);
  const cc = process.env.CC || 'cc';
  const args = ['-O2', '-fPIC', '-fvisibility=hidden', '-DNAPI_VERSION=8', `-I${include}`, ...link, ...nativeSources(), '-o', out];
  const r = spawnSync(cc, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.error) return skip(`${cc} is not available (${r.error.code ?? r.error.message})`);
  if (r.status !== 0) return skip(`${cc} failed: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  // libdeflate's MIT license goes wherever its code does: the package ships the module, so it ships the notice.
  copyFileSync(join(ROOT, 'native', 'libdeflate', 'COPYING'), join(outDir, 'libdeflate-COPYING'));
  return true;
}

function skip(why) {
  console.error(`build: native inflate not built (${why}); dumps are read and written with node:zlib, ~40 % more CPU`);
  return false;
}
