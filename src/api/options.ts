/** What the library's functions share in their options. */
import { parseEncryptionKey } from '../crypto/key.js';
import { BackupError } from '../errors.js';

/** An encryption key given as 32 bytes, or as BACKUP_ENCRYPTION_KEY's text (64 hex characters or base64). */
export const encryptionKeyOf = (key: Buffer | string | undefined): Buffer | undefined =>
  key === undefined ? undefined : Buffer.isBuffer(key) ? key : parseEncryptionKey(key);

/**
 * `value` when it is a non-empty string; a USAGE error naming the option otherwise. The types say so already, but a
 * caller from JavaScript (or with a misspelt option) got a TypeError from deep inside instead of one clear line.
 */
export function requiredString(value: unknown, name: string, what: string): string {
  if (typeof value === 'string' && value.trim() !== '') return value;
  throw new BackupError('USAGE', `${name} is required: ${what}`);
}

/** A dump's source: a non-empty string or a function opening its bytes (checked as requiredString). */
export function requiredSource<T>(value: T, name: string, what: string): T {
  if (typeof value !== 'function') requiredString(value, name, what);
  return value;
}
