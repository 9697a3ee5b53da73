import type { Readable } from 'node:stream';
import { BackupError } from '../../errors.js';
import { sniff, UNCOMPRESSED } from '../../format/decode.js';
import { dumpInput } from './dump.js';
import type { RestoreInput } from './types.js';

/** The restore input behind `openInput`, told apart by content: a v1 dump, or a legacy JSON backup. */
export async function openRestoreInput(openInput: () => Promise<Readable>, key?: Buffer): Promise<RestoreInput> {
  const first = await sniff(await openInput());
  first.raw.destroy();
  if (first.kind === 'json') {
    const { legacyInput } = await import('./legacy.js');
    return legacyInput(openInput);
  }
  if (first.kind === 'unknown') throw new BackupError('CORRUPT', 'not a turso-backup dump (not gzip)');
  if (first.kind === 'ndjson') throw new BackupError('CORRUPT', `the file ${UNCOMPRESSED}`);
  return dumpInput(openInput, key);
}
