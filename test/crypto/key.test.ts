import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseEncryptionKey } from '../../src/crypto/key.js';
import { BackupError } from '../../src/errors.js';

const key = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');

function configError(value: string | undefined): BackupError {
  try {
    parseEncryptionKey(value);
  } catch (err) {
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe('CONFIG');
    if (value?.trim()) expect((err as BackupError).message).not.toContain(value.trim());
    return err as BackupError;
  }
  throw new Error('expected a CONFIG error');
}

describe('parseEncryptionKey', () => {
  it('accepts 64 hex characters, either case, surrounding whitespace', () => {
    expect(parseEncryptionKey(key.toString('hex'))).toEqual(key);
    expect(parseEncryptionKey(key.toString('hex').toUpperCase())).toEqual(key);
    expect(parseEncryptionKey(` ${key.toString('hex')}\n`)).toEqual(key);
  });

  it('accepts standard and url-safe base64, padded or not', () => {
    for (let i = 0; i < 50; i++) {
      const k = randomBytes(32);
      const std = k.toString('base64');
      const url = k.toString('base64url');
      expect(parseEncryptionKey(std)).toEqual(k);
      expect(parseEncryptionKey(std.replace(/=+$/, ''))).toEqual(k);
      expect(parseEncryptionKey(url)).toEqual(k);
      expect(parseEncryptionKey(`${url}=`)).toEqual(k);
    }
  });

  it('rejects wrong lengths', () => {
    configError(key.toString('hex').slice(0, 62));
    configError(`${key.toString('hex')}ab`);
    configError(randomBytes(31).toString('base64'));
    configError(randomBytes(33).toString('base64'));
    configError(randomBytes(16).toString('base64'));
    configError(randomBytes(48).toString('base64')); // 64 base64 chars, but 48 bytes
  });

  it('rejects garbage without echoing it', () => {
    const e = configError('not a key at all');
    expect(e.message).toBe('BACKUP_ENCRYPTION_KEY must be 64 hex characters or base64 of 32 bytes');
    configError('g'.repeat(64));
    const b64 = key.toString('base64');
    configError(`${b64.slice(0, 10)}!${b64.slice(11)}`); // Buffer.from would silently skip '!'
    configError(b64.replace(/=$/, '==')); // wrong padding
    configError(`+${key.toString('base64url').slice(1).replace(/^./, '_')}`); // mixed alphabets
    // A non-canonical last character (stray low bits) decodes to the same bytes: refuse it.
    const last = b64[42]!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const tweaked = alphabet[alphabet.indexOf(last) ^ 1]!;
    configError(`${b64.slice(0, 42) + tweaked}=`);
  });

  it('reports a missing key', () => {
    expect(configError(undefined).message).toMatch(/^BACKUP_ENCRYPTION_KEY is not set: /);
    expect(configError('').message).toMatch(/is not set/);
    expect(configError('  ').message).toMatch(/is not set/);
  });
});
