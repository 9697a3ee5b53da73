import { parseDatabaseUrl } from '../source/url.js';
import { localTargetFactory } from './local.js';
import type { TargetFactory } from './types.js';

/** The restore target at `url`: better-sqlite3 for `file:`, @libsql/client over HTTP otherwise. */
export async function targetFactory(url: string, authToken?: string): Promise<TargetFactory> {
  const loc = parseDatabaseUrl(url);
  if (loc.kind === 'file') return localTargetFactory(loc.path);
  const { remoteTargetFactory } = await import('./remote.js');
  return remoteTargetFactory(loc.url, authToken);
}
