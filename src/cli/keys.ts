import { parseEncryptionKey } from '../crypto/key.js';

/** The encryption key from BACKUP_ENCRYPTION_KEY when set (used to read encrypted dumps transparently). */
export function encryptionKeyIfSet(): Buffer | undefined {
  const v = process.env.BACKUP_ENCRYPTION_KEY;
  return v?.trim() ? parseEncryptionKey(v) : undefined;
}
