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

/** The ways a database URL is written, for the messages naming a missing one. */
const URL_FORMS = 'file:PATH, libsql://… or https://…';

/** The option `url` (backup, migrate): a USAGE error naming it when it is missing. */
export const requiredUrl = (value: unknown): string => requiredString(value, 'the option url', `the database, ${URL_FORMS}`);

/** The option `target` (restore): a USAGE error naming it when it is missing. */
export const requiredTarget = (value: unknown): string => requiredString(value, 'the option target', `the database to restore into, ${URL_FORMS}`);

/** A dump's source: a non-empty string or a function opening its bytes (checked as requiredString). */
export function requiredSource<T>(value: T, name: string, what: string): T {
  if (typeof value !== 'function') requiredString(value, name, what);
  return value;
}
