/**
 * The connection the migration runner uses, over the one database layer (db/open.ts). `null` when a `file:`
 * database does not exist and may not be created (a dry run never creates one).
 */
import { existsSync } from 'node:fs';
import { openDb } from './open.js';
import type { Db } from './types.js';
import { parseDatabaseUrl } from './url.js';

export type Connection = Db;

/** `create` allows opening a `file:` path that does not exist yet (a confirmed migration of a new database). */
export async function openConnection(url: string, authToken: string | undefined, opts: { create: boolean }): Promise<Connection | null> {
  const loc = parseDatabaseUrl(url);
  if (loc.kind === 'file' && !existsSync(loc.path) && !opts.create) return null;
  return openDb(url, { authToken, create: opts.create });
}
