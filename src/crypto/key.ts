import { BackupError } from '../errors.js';

const KEY_LEN = 32;
const INVALID = 'BACKUP_ENCRYPTION_KEY must be 64 hex characters or base64 of 32 bytes';

/**
 * Parse the 256-bit master key from BACKUP_ENCRYPTION_KEY. Accepts 64 hex characters, or standard / url-safe
 * base64 (padded or not) that decodes to exactly 32 bytes. Messages never include the value: it is a secret.
 */
export function parseEncryptionKey(value: string | undefined): Buffer {
  const s = value?.trim() ?? '';
  if (s === '') {
    throw new BackupError('CONFIG', 'BACKUP_ENCRYPTION_KEY is not set: set it to 64 hex characters or base64 of 32 bytes (e.g. `openssl rand -hex 32`)');
  }
  if (/^[0-9a-fA-F]{64}$/.test(s)) return Buffer.from(s, 'hex');

  // Buffer.from(_, 'base64') silently skips invalid characters and accepts both alphabets, so validate strictly:
  // one alphabet only, then require the canonical re-encoding to match (rejects stray bits in the last character).
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(s) || /^[A-Za-z0-9_-]+={0,2}$/.test(s)) {
    const body = s.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
    const padded = s.length !== body.length;
    const key = Buffer.from(body, 'base64');
    if (
      key.length === KEY_LEN &&
      key.toString('base64').replace(/=+$/, '') === body &&
      (!padded || s.length === 44) // 32 bytes = 43 chars + exactly one '='
    ) {
      return key;
    }
  }
  throw new BackupError('CONFIG', INVALID);
}
