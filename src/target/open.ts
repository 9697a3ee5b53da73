import { parseDatabaseUrl } from '../db/url.js';
import { localTargetFactory } from './local.js';
import type { TargetFactory } from './types.js';

/**
 * The restore target at `url`: a `file:` path (loaded through a scratch file when new), or a remote database, whose
 * requests `signal` ends (an interrupted restore waiting on a server that does not answer stops at once).
 */
export async function targetFactory(url: string, authToken?: string, signal?: AbortSignal): Promise<TargetFactory> {
  const loc = parseDatabaseUrl(url);
  if (loc.kind === 'file') return localTargetFactory(loc.path);
  const { remoteTargetFactory } = await import('./remote.js');
  return remoteTargetFactory(loc.url, authToken, signal);
}
