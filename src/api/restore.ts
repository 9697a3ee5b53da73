/**
 * `restore(options)`: the library's restore, and the CLI's (`turso-backup restore` prints what this returns with
 * `--json`). A dry run unless `confirm`: the whole dump is verified and the plan made either way.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parseDatabaseUrl } from '../db/url.js';
import { dumpSourceOf, resolveDumpSource } from '../dump-source.js';
import { encryptionKeyOf, requiredSource, requiredTarget } from './options.js';
import { BackupError, isNoSpace } from '../errors.js';
import type { RestoreResult } from '../restore/restore.js';
import { deviceOf } from '../sink/file.js';

export interface RestoreProgress {
  table: string;
  /** Rows loaded so far, of `totalRows`. */
  rows: number;
  totalRows: number;
}

export interface RestoreOptions {
  /** The dump: a local path, a Blob pathname (`backups/…`) or Blob URL, or a function opening its bytes (called once per pass). */
  source: string | (() => Promise<Readable>);
  /** The database to restore into: `file:PATH`, `libsql://…` or `https://…`. */
  target: string;
  /** The target's token, when remote. */
  authToken?: string;
  /** The Blob store's token, for a Blob source (default: BLOB_READ_WRITE_TOKEN). */
  blobToken?: string;
  /** Without it, a dry run: the dump is verified and the plan made, nothing is written. */
  confirm?: boolean;
  /** Replace the dumped tables' rows in a target that holds other rows. */
  clean?: boolean;
  /** Only these tables. */
  tables?: string[];
  /** The key of an encrypted dump. */
  encryptionKey?: Buffer | string;
  onProgress?: (p: RestoreProgress) => void;
  /** Aborting rolls the restore back (the error's code is INTERRUPTED). */
  signal?: AbortSignal;
}

/** What a restore did (or would do): the summary `turso-backup restore --json` prints. */
export interface RestoreSummary {
  mode: 'dry-run' | 'restore';
  /** The target, without credentials. */
  target: string;
  /** `empty`: the schema was created from the dump; `migrated`: data loaded into the target's own tables. */
  path: RestoreResult['path'];
  /** A v1 dump (checksummed) or a legacy JSON backup. */
  source: RestoreResult['source'];
  tables: Record<string, number>;
  plan: RestoreResult['plan'];
  foreignKeyViolations: Record<string, number>;
  foreignKeysUnchecked: string[];
  warnings: string[];
  durationMs: number;
  /** True once every table was recounted and re-checksummed on the target. */
  verified: boolean;
}

/** The engine's result as the summary `restore --json` prints (and restore() returns). */
export const summarizeRestore = (r: RestoreResult): RestoreSummary => ({
  mode: r.mode,
  target: r.target,
  path: r.path,
  source: r.source,
  tables: r.tables,
  plan: r.plan,
  foreignKeyViolations: r.foreignKeyViolations,
  foreignKeysUnchecked: r.foreignKeysUnchecked,
  warnings: r.warnings,
  durationMs: r.durationMs,
  verified: r.verified,
});

/** The files of a `file:` target the restore may create: the target and its `.NAME.restore-*` scratch files. */
function localFiles(path: string): string[] {
  const prefix = `.${basename(path)}.restore-`;
  let names: string[] = [];
  try {
    names = readdirSync(dirname(path)).filter((f) => f.startsWith(prefix));
  } catch {
    // no folder: nothing there
  }
  return [...(existsSync(path) ? [basename(path)] : []), ...names];
}

/** A full disk under a `file:` target, in the operator's terms: where, how far the load got, what is left. */
function noSpace(e: unknown, path: string, before: string[], progress: RestoreProgress | null): BackupError {
  const left = localFiles(path).filter((f) => !before.includes(f));
  const got = progress
    ? `after ${progress.rows.toLocaleString('en-US')} of ${progress.totalRows.toLocaleString('en-US')} rows were loaded`
    : 'before any row was loaded';
  const state = before.includes(basename(path)) ? `${basename(path)} is as it was` : 'its scratch file was removed';
  const after = left.length ? `left behind: ${left.join(', ')} (remove it)` : 'nothing was left behind';
  return new BackupError(
    'NO_SPACE',
    `no space left on ${deviceOf(dirname(path))}: the restore into ${resolve(path)} stopped ${got}; it was rolled back and ${state}: ${after}`,
    { cause: e },
  );
}

/**
 * Restores a dump into `options.target`: verified end to end before the first write, loaded in one transaction,
 * verified again on the target; any failure rolls back. A dry run unless `confirm`.
 * @returns the summary `turso-backup restore --json` prints.
 * @throws BackupError with a `code` (CORRUPT, DECRYPT, REFUSED, SCHEMA, CONSTRAINT, NO_SPACE, INTERRUPTED, …).
 */
export async function restore(options: RestoreOptions): Promise<RestoreSummary> {
  return summarizeRestore(await runRestore(options));
}

/** restore() with the engine's full result (the CLI's human output shows the plan). */
export async function runRestore(options: RestoreOptions): Promise<RestoreResult> {
  requiredSource(options.source, 'the option source', 'the dump, a path, a Blob pathname or URL, or a function opening its bytes');
  requiredTarget(options.target);
  const key = encryptionKeyOf(options.encryptionKey);
  const input =
    typeof options.source === 'string'
      ? await resolveDumpSource(options.source, { blobToken: options.blobToken })
      : await dumpSourceOf(options.source, 'the dump');
  // Loaded when used: importing the library loads no database driver (the restore's file target is better-sqlite3).
  const { targetFactory } = await import('../target/open.js');
  const { restore: runEngine } = await import('../restore/restore.js');
  const target = await targetFactory(options.target, options.authToken, options.signal);
  const loc = parseDatabaseUrl(options.target);
  const before = loc.kind === 'file' ? localFiles(loc.path) : [];
  let progress: RestoreProgress | null = null;
  try {
    return await runEngine({
      openInput: input.openInput,
      target,
      confirm: options.confirm ?? false,
      tables: options.tables,
      clean: options.clean ?? false,
      key,
      signal: options.signal,
      onProgress: (p) => {
        progress = p;
        options.onProgress?.(p);
      },
    });
  } catch (e) {
    if (loc.kind === 'file' && isNoSpace(e)) throw noSpace(e, loc.path, before, progress);
    throw e;
  }
}
