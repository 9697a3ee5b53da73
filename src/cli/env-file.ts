/**
 * A `.env` file in the working directory, read before a command runs, as Prisma and Next.js users expect: variables
 * already set in the environment win over the file. Parsed by node:util's parseEnv (Node 20.12+), the same parser
 * as `node --env-file`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { BackupError } from '../errors.js';

/**
 * Reads `dir/.env` into `env` (default process.env) when it exists; a variable already present is kept.
 * @returns the names that were set from the file.
 */
export function loadDotEnv(dir: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): string[] {
  const path = join(dir, '.env');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw new BackupError('CONFIG', `cannot read ${path}: ${code ?? (e as Error).message}`);
  }
  const set: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (value === undefined || name in env) continue;
    env[name] = value;
    set.push(name);
  }
  return set;
}
