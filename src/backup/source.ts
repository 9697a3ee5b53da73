/**
 * The database side of a backup, as events: the plan (header), then each section (every selected table, then the
 * media inventory) as encoded pages and an end with its count and checksum, all from one read snapshot (or one per
 * table with `--consistency per-table`). The pipeline (backup.ts) turns these into the dump; this part runs on a
 * reader thread for `file:` sources (read-worker.ts) so that SQLite's work leaves the main thread to hashing,
 * compression and the sink.
 */
import { createHash } from 'node:crypto';
import { openDb } from '../db/open.js';
import type { PageAlloc } from '../db/encode.js';
import { DEFAULT_PAGES, encodedPages, type EncodedPage, type PageOptions } from '../db/pages.js';
import { countRows } from '../db/schema.js';
import type { Db } from '../db/types.js';
import { BackupError } from '../errors.js';
import type { HeaderLine, MediaSpec, Selection, TableInfo } from '../format/lines.js';
import { createMemoryGovernor } from '../memory.js';
import { planBackup, type BackupPlan } from './plan.js';

/** What the database side needs to know (all of it can cross to a worker thread). */
export interface SourceOptions {
  url: string;
  authToken?: string;
  selection?: Partial<Selection>;
  media?: Partial<MediaSpec>;
  consistency?: HeaderLine['consistency'];
  pages?: Partial<PageOptions>;
  /** SQLite's page cache for the reading connection, KiB (local; a sequential read needs little). */
  cacheKiB?: number;
  /**
   * false: `end` events carry an empty checksum, and whoever receives the pages finishes them (a page may come
   * `unfinished`: finishEncodedPage) and hashes them. reader.ts does both on the main thread, to take that work off
   * the reader thread, which bounds a local backup's time.
   */
  checksums?: boolean;
  /** Ends a remote source's requests (an interrupted backup); a reader thread's local source never gets it. */
  signal?: AbortSignal;
}

export type SourceEvent =
  | { kind: 'plan'; plan: BackupPlan }
  | { kind: 'section'; name: string; columns: string[]; media: boolean }
  /** Encoded row lines of the open section (newlines included), perhaps still to be finished (EncodedPage). */
  | {
      kind: 'page';
      bytes: Buffer;
      rows: number;
      unfinished?: EncodedPage['unfinished'];
      /** Gives the page's memory back to the thread that wrote it (reader.ts); called once nothing reads `bytes`. */
      release?: () => void;
    }
  | { kind: 'end'; name: string; rows: number; sha256: string; media: boolean };

/**
 * Pages are garbage the moment they are sent: keep the reader's heap from drifting upwards (memory.ts). Every 64 MiB,
 * not 8: the full collections took 0.3–0.5 s of the reader thread, which bounds a local backup's time, and peak RSS
 * stayed the same at 1× and 3× (docs/BENCHMARKS.md, 2026-11-30 session 7).
 */
const memory = createMemoryGovernor({ everyBytes: 64 * 1024 * 1024 });

/** How a section's pages are read: their size, whether they are hashed here, the memory they are finished into. */
interface SectionRead {
  pages: PageOptions;
  checksums: boolean;
  alloc?: PageAlloc;
  /** per-table: each table's CREATE statement as the header holds it, checked again in the table's own snapshot. */
  definitions: Map<string, string> | null;
}

/**
 * per-table: the table must still be defined as the header says when its own snapshot begins. A migration committed
 * in between (a column added, renamed or dropped, the table dropped) would have its rows dumped under columns that
 * no longer describe them, and a restore would put them in the wrong place or lose a column's values without a word.
 */
async function checkDefinition(db: Db, name: string, planned: string | undefined): Promise<void> {
  // SQLite's own tables (sqlite_sequence, sqlite_stat1) are in no header's schema: SQLite fixes their definition.
  if (planned === undefined) return;
  const rows = await db.query("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", [name]);
  const again = ': run the backup again';
  if (rows.length === 0) throw new BackupError('SNAPSHOT', `table "${name}" was dropped during the per-table backup (the dump's header holds it)${again}`);
  if (String(rows[0]![0]) !== planned)
    throw new BackupError(
      'SNAPSHOT',
      `table "${name}" was altered during the per-table backup (its definition is no longer the one the dump's header holds)${again}`,
    );
}

/** One section's pages and its end, counted against the snapshot. */
async function* section(db: Db, t: TableInfo, media: boolean, perTable: boolean, read: SectionRead): AsyncGenerator<SourceEvent> {
  let expected = t.rows;
  if (perTable && t.dataColumns.length > 0) {
    // per-table: each table (and the media inventory) in a fresh read snapshot, counted inside it.
    await db.endRead();
    await db.beginRead();
    await checkDefinition(db, t.name, read.definitions?.get(t.name));
    expected = await countRows(db, t.name);
  }
  yield { kind: 'section', name: t.name, columns: t.dataColumns, media };
  const hash = read.checksums ? createHash('sha256') : null;
  let n = 0;
  const largestRow = t.dataColumns.length > 0 ? ((await db.largestRow?.(t.name)) ?? undefined) : undefined;
  const walk = { pages: { ...read.pages, largestRow }, deferFinish: !read.checksums, alloc: read.alloc };
  for await (const page of encodedPages(db, t, walk)) {
    memory.tick(page.bytes.length);
    n += page.rows;
    // Never more rows than counted in the snapshot: fail now rather than write an ever-growing dump.
    if (n > expected) throw new BackupError('SNAPSHOT', `table "${t.name}" gave more rows than the ${expected} counted: the read snapshot was lost`);
    hash?.update(page.bytes);
    yield { kind: 'page', bytes: page.bytes, rows: page.rows, unfinished: page.unfinished };
  }
  if (n !== expected) {
    // The count and the rows come from one snapshot: a difference means the snapshot was not held.
    throw new BackupError('SNAPSHOT', `table "${t.name}" changed during the backup (${expected} rows counted, ${n} read): the read snapshot was lost`);
  }
  yield { kind: 'end', name: t.name, rows: n, sha256: hash?.digest('hex') ?? '', media };
}

/**
 * The whole database side of a backup, in one read snapshot. `alloc`: the memory pages with BLOBs are finished into
 * (read-worker.ts gives memory the main thread gave back).
 */
export async function* readSource(opts: SourceOptions, alloc?: PageAlloc): AsyncGenerator<SourceEvent> {
  const db = await openDb(opts.url, { readonly: true, authToken: opts.authToken, cacheKiB: opts.cacheKiB, signal: opts.signal });
  try {
    await db.beginRead();
    const plan = await planBackup(db, opts);
    yield { kind: 'plan', plan };
    const perTable = plan.header.consistency === 'per-table';
    const definitions = perTable ? new Map(plan.header.schema.filter((o) => o.type === 'table').map((o) => [o.name, o.sql])) : null;
    const read: SectionRead = { pages: { ...DEFAULT_PAGES, ...opts.pages }, checksums: opts.checksums !== false, alloc, definitions };
    for (const t of plan.header.tables) yield* section(db, t, false, perTable, read);
    if (plan.media) yield* section(db, plan.media, true, perTable, read);
    await db.endRead();
  } finally {
    await db.close();
  }
}
