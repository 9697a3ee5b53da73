/**
 * What dist/ is built from, as one hash: every file under src/ and native/ (path and content) and the build's
 * tsconfig. The build records it in dist/BUILD.json; the scripts/*.ts aliases compare it with the sources before
 * using dist/, so a dist/ older than the sources is never run.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's root (this file is scripts/lib/sources.mjs). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The hash of the sources dist/ is built from (~100 files: a few milliseconds). */
export function sourceHash(root = ROOT) {
  const h = createHash('sha256');
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else
        h.update(`${relative(root, p)}\0`)
          .update(readFileSync(p))
          .update('\0');
    }
  };
  walk(join(root, 'src'));
  walk(join(root, 'native'));
  h.update(readFileSync(join(root, 'tsconfig.build.json')));
  return h.digest('hex').slice(0, 16);
}

/** The hash dist/ was built from, or null (no dist/, or one from before BUILD.json). */
export function builtHash(root = ROOT) {
  try {
    return JSON.parse(readFileSync(join(root, 'dist', 'BUILD.json'), 'utf8')).sources ?? null;
  } catch {
    return null;
  }
}
