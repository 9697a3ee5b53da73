import { openLocalSource } from './local.js';
import type { Source } from './types.js';
import { parseDatabaseUrl } from './url.js';

/** Opens the database at `url` for reading: better-sqlite3 for `file:`, @libsql/client over HTTP otherwise. */
export async function openSource(url: string, authToken?: string): Promise<Source> {
  const loc = parseDatabaseUrl(url);
  if (loc.kind === 'file') return openLocalSource(loc.path);
  const { openRemoteSource } = await import('./remote.js');
  return openRemoteSource(loc.url, authToken);
}
