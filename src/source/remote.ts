/**
 * A remote libSQL database over HTTP (Hrana) through @libsql/client, INTEGER as bigint. The snapshot is a read
 * transaction on one server-side stream.
 */
import { createClient, type Client, type Transaction } from '@libsql/client';
import { BackupError } from '../errors.js';
import type { Source } from './types.js';
import { hostOf, redactUrl } from './url.js';

export function openRemoteSource(url: string, authToken?: string): Source {
  const client: Client = createClient({ url, authToken, intMode: 'bigint' });
  let tx: Transaction | null = null;
  const run = async (sql: string, args: readonly unknown[] = []) => {
    const rs = await (tx ?? client).execute({ sql, args: args as never });
    return rs.rows.map((r) => Array.prototype.slice.call(r) as unknown[]);
  };
  return {
    kind: 'remote',
    displayUrl: redactUrl(url),
    async beginSnapshot() {
      try {
        tx = await client.transaction('read');
      } catch (e) {
        throw new BackupError('REMOTE', `cannot open a read transaction on ${hostOf(url)}: ${(e as Error).message}`);
      }
    },
    query: run,
    async endSnapshot() {
      const t = tx;
      tx = null;
      if (t) await t.commit();
    },
    async close() {
      tx?.close();
      tx = null;
      client.close();
    },
  };
}
