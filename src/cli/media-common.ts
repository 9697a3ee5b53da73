/**
 * What the media commands share: the media table/column flags, where the inventory comes from (a dump given on
 * the command line, else the database of --db / TURSO_DATABASE_URL), and the --concurrency flag.
 */
import { BackupError } from '../errors.js';
import { dbInventory, dumpInventory } from '../media/inventory.js';
import { DEFAULT_MEDIA_COLUMNS, type Inventory, type MediaColumns } from '../media/model.js';
import { redactUrl } from '../db/url.js';
import { positiveInt, type Parsed } from './args.js';
import { connection } from './connection.js';
import { encryptionKeyIfSet } from './keys.js';
import { resolveDumpSource } from '../dump-source.js';

/** Only the flags actually given (a dump's recorded spec fills the rest). */
export function explicitSpec(p: Parsed): Partial<MediaColumns> {
  const out: Partial<MediaColumns> = {};
  const set = (key: 'table' | 'urlColumn' | 'pathnameColumn', flag: string) => {
    const value = p.str(flag);
    if (value === undefined) return;
    if (value.trim() === '') throw new BackupError('USAGE', `--${flag} must not be empty`);
    out[key] = value;
  };
  set('table', 'media-table');
  set('urlColumn', 'url-column');
  set('pathnameColumn', 'pathname-column');
  return out;
}

/** The media table and columns: the flags given over the defaults. */
export const fullSpec = (p: Parsed): MediaColumns => ({ ...DEFAULT_MEDIA_COLUMNS, ...explicitSpec(p) });

/** --concurrency: 1..1024, default `dflt`. */
export function concurrencyFlag(v: string | undefined, dflt: number): number {
  const n = positiveInt(v, '--concurrency', dflt);
  if (n < 1 || n > 1024) throw new BackupError('USAGE', `--concurrency must be between 1 and 1024 (got ${v})`);
  return n;
}

/**
 * The inventory: the media section of `dump` when given (a local path, a Blob pathname or URL), else a SELECT of
 * the media table of the database (--db, else TURSO_DATABASE_URL).
 */
export async function resolveInventory(dump: string | undefined, p: Parsed): Promise<Inventory> {
  if (dump !== undefined) {
    const src = await resolveDumpSource(dump);
    if (src.legacy) {
      throw new BackupError(
        'UNSUPPORTED',
        `${dump} is a legacy JSON backup, which has no media inventory: check against the database (--db or TURSO_DATABASE_URL) instead`,
      );
    }
    return dumpInventory(src.openInput, explicitSpec(p), `dump ${src.label}`, encryptionKeyIfSet());
  }
  const db = connection(p, 'db');
  return dbInventory(db.url, db.authToken, fullSpec(p), `database ${redactUrl(db.url)}`);
}

/** The dump a media command reads: DUMP or --dump (one of them). */
export function dumpArg(p: Parsed): string | undefined {
  const flag = p.str('dump');
  if (flag !== undefined && p.positionals[0] !== undefined) throw new BackupError('USAGE', 'give the dump once: as DUMP or as --dump DUMP');
  return flag ?? p.positionals[0];
}
