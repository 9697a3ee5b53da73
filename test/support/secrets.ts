/** Fake secrets for the monitor's tests: set in the environment, they must never appear in what a receiver gets. */
import { expect } from 'vitest';
import type { Received } from './webhook-server.js';

export const FAKE_SECRETS = {
  TURSO_AUTH_TOKEN: 'tursoTok-FAKE-9f8e7d6c5b4a',
  BLOB_READ_WRITE_TOKEN: 'vercel_blob_rw_fakestore_FAKEblobSecret123',
  CRON_SECRET: 'cronSecret-FAKE-abcdef123456',
  BACKUP_ENCRYPTION_KEY: 'cd'.repeat(32),
  STATUS_SECRET: 'statusSecret-FAKE-777',
};

/** Everything a receiver saw, as one string (method, path, query, headers, body). */
export const everything = (rs: Received[]) => JSON.stringify(rs);

/** Fails when any fake secret (or any of `extra`) occurs in `text`. */
export function expectNoSecrets(text: string, extra: string[] = []): void {
  for (const s of [...Object.values(FAKE_SECRETS), ...extra]) expect(text, `leaked ${s.slice(0, 8)}…`).not.toContain(s);
}
