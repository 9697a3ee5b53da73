/**
 * Database URLs: which driver serves them, where a `file:` URL points, and how to show one without secrets.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackupError } from '../errors.js';

export type DbLocation = { kind: 'file'; path: string } | { kind: 'remote'; url: string };

export function parseDatabaseUrl(url: string): DbLocation {
  const trimmed = url.trim();
  if (trimmed.startsWith('file:')) {
    const rest = trimmed.slice('file:'.length).split('?')[0]!;
    let path: string;
    if (rest.startsWith('//')) {
      try {
        path = fileURLToPath(trimmed.split('?')[0]!);
      } catch {
        throw new BackupError('CONFIG', `TURSO_DATABASE_URL is not a valid file: URL (${redactUrl(trimmed)})`);
      }
    } else {
      path = decodeURIComponent(rest);
    }
    if (!path) throw new BackupError('CONFIG', 'TURSO_DATABASE_URL is a file: URL without a path');
    return { kind: 'file', path: resolve(path) };
  }
  if (/^(libsql|https?|wss?):\/\//i.test(trimmed)) {
    checkNoCredentials(trimmed);
    return { kind: 'remote', url: trimmed };
  }
  // A bare path is the common slip: say how to write it (a path holds no credentials, unlike a mistyped URL).
  const path = /^[^:@?#\s]+$/.test(trimmed) ? `; for a file, write file:${trimmed}` : '';
  throw new BackupError('CONFIG', `TURSO_DATABASE_URL must be a libsql://, https://, http:// or file: URL (got ${redactUrl(trimmed)})${path}`);
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

/** The URL with user, password and every query parameter's value removed: safe for logs and the dump. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol === 'file:') return `file:${u.pathname}`;
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
