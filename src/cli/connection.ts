/**
 * Which database a command works on and with which token: `--db URL` (`--target URL` for restore and drill) over
 * TURSO_DATABASE_URL, and the token from TURSO_AUTH_TOKEN or the variable `--auth-token-env NAME` names. A token is
 * never taken on the command line (it would be in the shell history and in `ps`).
 */
import { BackupError, registerSecret } from '../errors.js';
import { parseDatabaseUrl } from '../db/url.js';
import type { Parsed } from './args.js';

export interface Connection {
  url: string;
  authToken: string | undefined;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The token: from the variable --auth-token-env names (which must then be set), else TURSO_AUTH_TOKEN if set. */
export function authToken(p: Parsed, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const name = p.str('auth-token-env');
  if (name === undefined) return registerSecret(env.TURSO_AUTH_TOKEN?.trim() || undefined);
  // Never echo the value: someone may have passed the token itself.
  if (!ENV_NAME.test(name)) throw new BackupError('USAGE', '--auth-token-env takes the NAME of an environment variable holding the token, not the token');
  const token = env[name]?.trim();
  if (!token) throw new BackupError('CONFIG', `${name} is not set (--auth-token-env ${name} names it as the database token)`);
  return registerSecret(token);
}

/**
 * The database of a command: `--<flag> URL`, else TURSO_DATABASE_URL, else a CONFIG error naming both; a URL that
 * is not libsql://, https:// or file: is refused here, before anything is opened.
 */
export function connection(p: Parsed, flag: 'db' | 'target', env: NodeJS.ProcessEnv = process.env): Connection {
  // The token's flag first: a token pasted where its variable's name belongs is refused before anything else.
  const token = authToken(p, env);
  const given = p.str(flag);
  if (given !== undefined && !given.trim()) throw new BackupError('USAGE', `--${flag} needs a URL (libsql://…, https://… or file:PATH)`);
  const url = given ?? env.TURSO_DATABASE_URL;
  if (!url?.trim()) {
    throw new BackupError(
      'CONFIG',
      `TURSO_DATABASE_URL is not set and no --${flag} URL was given: point one at the database (libsql://…, https://… or file:…)`,
    );
  }
  try {
    parseDatabaseUrl(url);
  } catch (e) {
    if (given !== undefined && e instanceof BackupError) throw new BackupError(e.code, e.message.replaceAll('TURSO_DATABASE_URL', `--${flag}`));
    throw e;
  }
  return { url, authToken: token };
}
