/**
 * A `.env` file in the working directory, read before a command runs, as Prisma and Next.js users expect: variables
 * already set in the environment win over the file. Parsed by dotenv and `${NAME}` expanded as Prisma does, by
 * bin/dotenv.mjs, which the launcher (bin/relaunch.mjs) reads the file with too, so both see the same database.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DotEnvError, dotEnvValues } from '../../bin/dotenv.mjs';
import { BackupError } from '../errors.js';

/**
 * Reads `dir/.env` into `env` (default process.env) when it exists; a variable already present is kept.
 * @returns the names that were set from the file.
 * @throws BackupError CONFIG when the file exists but cannot be read, or a variable in it refers to itself (the
 *   message names the file and variables, never a value).
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
  let values: Record<string, string>;
  try {
    values = dotEnvValues(text, env);
  } catch (e) {
    if (e instanceof DotEnvError) throw new BackupError('CONFIG', `${path}: ${e.message}`, { cause: e });
    throw e;
  }
  Object.assign(env, values);
  return Object.keys(values);
}
