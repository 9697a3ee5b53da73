import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's package.json: the nearest one named turso-backup above this module (also from the bundled CLI's cache). */
function packageJson(): { name: string; version: string } {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'turso-backup' && pkg.version) return { name: pkg.name, version: pkg.version };
    }
    if (dirname(dir) === dir) return { name: 'turso-backup', version: '0.0.0' };
  }
}

const pkg = packageJson();

export const TOOL = `${pkg.name} ${pkg.version}`;
