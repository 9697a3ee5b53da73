/** What the library's functions share in their options. */
import { parseEncryptionKey } from '../crypto/key.js';

/** An encryption key given as 32 bytes, or as BACKUP_ENCRYPTION_KEY's text (64 hex characters or base64). */
export const encryptionKeyOf = (key: Buffer | string | undefined): Buffer | undefined =>
  key === undefined ? undefined : Buffer.isBuffer(key) ? key : parseEncryptionKey(key);
