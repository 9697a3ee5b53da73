/**
 * Resolving a restore SOURCE argument to something that can be opened more than once (restore reads it twice:
 * verify pass, load pass), and telling a v1 dump from a legacy JSON backup by content.
 */
import type { Readable } from 'node:stream';
import { BackupError } from '../errors.js';
import { openLocalFile, sniff } from '../input.js';

export interface DumpSource {
  openInput: () => Promise<Readable>;
  legacy: boolean;
  label: string;
}

export async function resolveDumpSource(source: string): Promise<DumpSource> {
  const openInput = async () => openLocalFile(source);
  const first = await sniff(await openInput());
  first.raw.destroy();
  if (first.kind === 'unknown') throw new BackupError('CORRUPT', `${source} is neither a turso-backup dump nor a JSON backup`);
  return { openInput, legacy: first.kind === 'json', label: source };
}
