/**
 * What the media commands share: the media table/column flags, where the inventory comes from (a dump given on
 * the command line, else the database of TURSO_DATABASE_URL), and the --concurrency flag.
 */
import { BackupError } from '../errors.js';
import { dbInventory, dumpInventory } from '../media/inventory.js';
import { DEFAULT_MEDIA_COLUMNS, type Inventory, type MediaColumns } from '../media/model.js';
import { redactUrl, requireDatabaseUrl } from '../db/url.js';
import { positiveInt } from './args.js';
import { encryptionKeyIfSet } from './keys.js';
import { resolveDumpSource } from '../dump-source.js';

export const MEDIA_FLAGS = {
  'media-table': { type: 'string' },
  'url-column': { type: 'string' },
  'pathname-column': { type: 'string' },
} as const;

export const MEDIA_USAGE = '[--media-table T] [--url-column C] [--pathname-column C]';

type MediaFlagValues = { 'media-table'?: string; 'url-column'?: string; 'pathname-column'?: string };

/** Only the flags actually given (a dump's recorded spec fills the rest). */
export function explicitSpec(v: MediaFlagValues): Partial<MediaColumns> {
  const out: Partial<MediaColumns> = {};
  const set = (key: 'table' | 'urlColumn' | 'pathnameColumn', flag: keyof MediaFlagValues) => {
    const value = v[flag];
    if (value === undefined) return;
    if (value.trim() === '') throw new BackupError('USAGE', `--${flag} must not be empty`);
    out[key] = value;
  };
  set('table', 'media-table');
  set('urlColumn', 'url-column');
  set('pathnameColumn', 'pathname-column');
  return out;
}

export const fullSpec = (v: MediaFlagValues): MediaColumns => ({ ...DEFAULT_MEDIA_COLUMNS, ...explicitSpec(v) });

export function concurrencyFlag(v: string | undefined, dflt: number): number {
  const n = positiveInt(v, '--concurrency', dflt);
  if (n < 1 || n > 1024) throw new BackupError('USAGE', `--concurrency must be between 1 and 1024 (got ${v})`);
  return n;
}

/**
 * The inventory: the media section of DUMP when given (whatever `resolveDumpSource` can open: a local path today),
 * else a SELECT of the media table of TURSO_DATABASE_URL.
 */
export async function resolveInventory(dump: string | undefined, v: MediaFlagValues, env: NodeJS.ProcessEnv = process.env): Promise<Inventory> {
  if (dump !== undefined) {
    const src = await resolveDumpSource(dump);
    if (src.legacy) {
      throw new BackupError('UNSUPPORTED', `${dump} is a legacy JSON backup, which has no media inventory: check against the database (TURSO_DATABASE_URL) instead`);
    }
    return dumpInventory(src.openInput, explicitSpec(v), `dump ${src.label}`, encryptionKeyIfSet());
  }
  const url = requireDatabaseUrl(env);
  return dbInventory(url, env.TURSO_AUTH_TOKEN, fullSpec(v), `database ${redactUrl(url)}`);
}
