/**
 * Database URLs: which driver serves them, where a `file:` URL points, and how to show one without secrets.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackupError } from '../errors.js';

export type DbLocation = { kind: 'file'; path: string } | { kind: 'remote'; url: string };

/**
 * Where a database URL points: a local file (its absolute path) or a remote server (the URL as given).
 * @throws BackupError CONFIG for a URL that is not one of ours, a `file:` URL without a path or with a broken `%` escape.
 */
export function parseDatabaseUrl(url: string): DbLocation {
  const trimmed = url.trim();
  if (trimmed.startsWith('file:')) {
    const rest = trimmed.slice('file:'.length).split('?')[0]!;
    const path = rest.startsWith('//') ? fileUrlPath(trimmed) : decodePath(trimmed, rest);
    if (!path) throw new BackupError('CONFIG', 'TURSO_DATABASE_URL is a file: URL without a path');
    refuseOpenOptions(trimmed);
    return { kind: 'file', path: resolve(path) };
  }
  if (/^(libsql|https?|wss?):\/\//i.test(trimmed)) {
    checkNoCredentials(trimmed);
    if (!hasHost(trimmed)) throw new BackupError('CONFIG', `TURSO_DATABASE_URL names no host (${redactUrl(trimmed)}): write it as libsql://NAME.turso.io`);
    return { kind: 'remote', url: trimmed };
  }
  // A bare path is the common slip: say how to write it (a path holds no credentials, unlike a mistyped URL).
  const path = /^[^:@?#\s]+$/.test(trimmed) ? `; for a file, write file:${trimmed}` : '';
  throw new BackupError('CONFIG', `TURSO_DATABASE_URL must be a libsql://, https://, http:// or file: URL (got ${redactUrl(trimmed)})${path}`);
}

/** Whether a URL parses with a host (`libsql://` alone does not). */
function hasHost(url: string): boolean {
  try {
    return new URL(url).hostname !== '';
  } catch {
    return false;
  }
}

/**
 * SQLite's URI open options (sqlite.org/uri.html): this tool opens a source read-only and a target read-write by
 * itself and applies none of them, so `?mode=ro` on a restore target was ignored and the file written. Refused by
 * name (never its value); other parameters (an app's `authToken`, Prisma's `connection_limit`) are left alone.
 */
const SQLITE_OPEN_OPTIONS = new Set(['mode', 'vfs', 'cache', 'immutable', 'nolock', 'psow', 'modeof']);

function refuseOpenOptions(url: string): void {
  const query = url.split('#')[0]!.split('?').slice(1).join('?');
  for (const pair of query.split('&')) {
    const key = pair.split('=')[0]!.toLowerCase();
    if (SQLITE_OPEN_OPTIONS.has(key)) {
      throw new BackupError(
        'CONFIG',
        `TURSO_DATABASE_URL has the SQLite open option "${key}", which this tool does not apply (it opens a backup's source read-only and a restore's target read-write itself): remove it`,
      );
    }
  }
}

/** The path of a `file://…` URL. */
function fileUrlPath(url: string): string {
  try {
    return fileURLToPath(url.split('?')[0]!);
  } catch (e) {
    if (e instanceof URIError) throw badPercent(url);
    throw new BackupError('CONFIG', `TURSO_DATABASE_URL is not a valid file: URL (${redactUrl(url)})`);
  }
}

/** The path of a `file:PATH` URL, its `%XX` escapes decoded (as libSQL and Prisma read it). */
function decodePath(url: string, rest: string): string {
  try {
    return decodeURIComponent(rest);
  } catch {
    throw badPercent(url); // URIError: a `%` not followed by two hex digits, or escapes that are not UTF-8
  }
}

/** A `%` that does not start a valid escape: say how a literal `%` is written (a bare "URI malformed" did not). */
function badPercent(url: string): BackupError {
  const shown = redactUrl(url);
  const fixed = shown.replace(/%(?![0-9A-Fa-f]{2})/g, '%25');
  const hint = fixed === shown ? '' : ` (${fixed})`;
  return new BackupError(
    'CONFIG',
    `TURSO_DATABASE_URL is not a valid file: URL (${shown}): a % in a file: path starts an escape like %20; write a literal % as %25${hint}`,
  );
}

/**
 * A remote URL with `user:password@` is refused before any request, whatever the command: the HTTP client refuses
 * it too, and its error read as the server refusing a statement. The message shows the URL without them.
 */
function checkNoCredentials(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return; // not ours to judge here: the connection reports a URL it cannot use
  }
  if (parsed.username === '' && parsed.password === '') return;
  throw new BackupError(
    'CONFIG',
    `the database URL must not carry a user name or password (user:password@): give it as ${redactUrl(url)}, and the token in TURSO_AUTH_TOKEN (or in the variable --auth-token-env NAME names)`,
  );
}

/**
 * The URL with user, password and every query parameter's value removed: safe for logs and the dump. A `file:`
 * URL keeps its path as written (`file:w/x.db` stays relative: the URL parser would show it as `/w/x.db`, a path
 * that does not exist) and loses its query and fragment.
 */
export function redactUrl(url: string): string {
  if (/^file:/i.test(url)) {
    const path = url.slice('file:'.length).split(/[?#]/)[0]!;
    return `file:${path.replace(/^\/\/[^/]*@/, '//')}`; // `file://user:pass@host/…`: never show the user part
  }
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    for (const key of [...u.searchParams.keys()]) u.searchParams.set(key, 'REDACTED');
    return u.toString();
  } catch {
    // Not parseable: keep only a scheme-like prefix, never the rest (it may hold a token).
    const m = /^[a-z]+:/i.exec(url);
    return m ? `${m[0]}…` : '(unparseable URL)';
  }
}

/** The host of a remote URL, for error messages. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(unknown host)';
  }
}

/** TURSO_DATABASE_URL, or a CONFIG error (exit 2) naming it. */
export function requireDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.TURSO_DATABASE_URL;
  if (!url?.trim()) {
    throw new BackupError('CONFIG', 'TURSO_DATABASE_URL is not set: point it at the database (libsql://… or file:…)');
  }
  return url;
}

/** Quoting for identifiers in generated SQL: every name is quoted, whatever it holds. */
export const q = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/**
 * The sum of SQL `terms`, grouped as a balanced tree. `a + b + c + …` nests one level per term, and SQLite refuses
 * an expression deeper than 1000 (SQLITE_MAX_EXPR_DEPTH): a sum over each column of a 2,000-column table would fail.
 */
export function sqlSum(terms: readonly string[]): string {
  if (terms.length === 0) return '0';
  if (terms.length === 1) return terms[0]!;
  const half = terms.length >>> 1;
  return `(${sqlSum(terms.slice(0, half))} + ${sqlSum(terms.slice(half))})`;
}
