import type { Db, OpenOptions } from './types.js';
import { parseDatabaseUrl } from './url.js';

/**
 * Opens the database at `url`: better-sqlite3 for `file:`, @libsql/hrana-client over HTTP otherwise. Each backend is
 * imported only when used, so a remote run never loads native code and a local one never the HTTP client.
 */
export async function openDb(url: string, opts: OpenOptions = {}): Promise<Db> {
  const loc = parseDatabaseUrl(url);
  if (loc.kind === 'file') {
    const { openLocalDb } = await import('./local.js');
    return openLocalDb(loc.path, opts);
  }
  const { openRemoteDb } = await import('./remote.js');
  return openRemoteDb(loc.url, opts);
}
