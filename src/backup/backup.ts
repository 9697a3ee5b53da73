/**
 * The backup pipeline: one read snapshot → schema and counts → every selected table by keyset pages, encoded by
 * SQLite where it can (db/encode.ts) → typed NDJSON lines with checksums → parallel gzip (→ encryption) → a sink.
 * Memory is bounded by a page and the gzip blocks in flight, whatever the database's size.
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { openDb } from '../db/open.js';
import { DEFAULT_PAGES, encodedPages, type PageOptions } from '../db/pages.js';
import { countRows } from '../db/schema.js';
import type { Db } from '../db/types.js';
import { BackupError } from '../errors.js';
import { createBlockPacker, type BlockPacker } from '../format/blocks.js';
import { DEFAULT_GZIP, gzipBlocks, type GzipOptions } from '../format/gzip.js';
import { FORMAT_NAME, FORMAT_VERSION, type Manifest, type MediaSpec, type Selection, type TableInfo } from '../format/lines.js';
import { createDumpEncoder, type DumpTotals } from '../format/writer.js';
import { createMemoryGovernor } from '../memory.js';
import type { Sink, SinkResult } from '../sink/types.js';
import { TOOL } from '../version.js';
import { countsOf, planBackup, type BackupPlan } from './plan.js';

export { DEFAULT_MEDIA } from './plan.js';

export interface BackupProgress {
  table: string;
  tableRows: number;
  tableTotal: number;
  rows: number;
  totalRows: number;
  bytes: number;
}

export interface BackupOptions {
  /** The database: `file:path`, `libsql://…` or `https://…`. */
  url: string;
  /** The token of a remote database. */
  authToken?: string;
  selection?: Partial<Selection>;
  media?: Partial<MediaSpec>;
  /** `snapshot` (default): one read transaction for everything; `per-table`: one per table. */
  consistency?: 'snapshot' | 'per-table';
  gzip?: Partial<GzipOptions>;
  pages?: Partial<PageOptions>;
  onProgress?: (p: BackupProgress) => void;
  signal?: AbortSignal;
}

export interface BackupResult {
  mode: 'dry-run' | 'write';
  source: string;
  consistency: 'snapshot' | 'per-table';
  tables: Record<string, number>;
  notes: string[];
  durationMs: number;
  bytes?: number;
  sha256?: string;
  manifest?: Manifest;
  sink?: SinkResult;
}

const interrupted = () => new BackupError('INTERRUPTED', 'backup interrupted: no dump or manifest was left behind');

/**
 * Dry run: schema and per-table counts from one snapshot; writes nothing.
 * @returns the counts and notes, as `--json` prints them.
 */
export async function inspect(opts: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const db = await openDb(opts.url, { readonly: true, authToken: opts.authToken });
  try {
    await db.beginRead();
    const { header } = await planBackup(db, opts);
    await db.endRead();
    return { mode: 'dry-run', source: db.displayUrl, consistency: header.consistency, tables: countsOf(header), notes: header.notes ?? [], durationMs: Date.now() - started };
  } finally {
    await db.close();
  }
}

/** One table (or the media inventory) as encoded pages into the encoder; yields whatever blocks it sealed. */
async function* section(db: Db, t: TableInfo, media: boolean, ctx: SectionContext): AsyncGenerator<Buffer> {
  let expected = t.rows;
  if (ctx.perTable && t.dataColumns.length > 0) {
    // per-table: each table (and the media inventory) in a fresh read snapshot, counted inside it.
    await db.endRead();
    await db.beginRead();
    expected = await countRows(db, t.name);
  }
  if (media) ctx.enc.mediaStart(t.name, t.dataColumns);
  else ctx.enc.tableStart(t.name, t.dataColumns);
  let n = 0;
  for await (const page of encodedPages(db, t, { pages: ctx.pages })) {
    if (ctx.signal?.aborted) throw interrupted();
    n += page.rows;
    // Never more rows than counted in the snapshot: fail now rather than write an ever-growing dump.
    if (n > expected) throw new BackupError('SNAPSHOT', `table "${t.name}" gave more rows than the ${expected} counted: the read snapshot was lost`);
    ctx.enc.rows(page.bytes, page.rows);
    ctx.progress(t, media, n, page.rows, page.bytes.length);
    yield* ctx.packer.takeSealed();
  }
  if (n !== expected) {
    // The count and the rows come from one snapshot: a difference means the snapshot was not held.
    throw new BackupError('SNAPSHOT', `table "${t.name}" changed during the backup (${expected} rows counted, ${n} read): the read snapshot was lost`);
  }
  if (media) ctx.enc.mediaEnd();
  else ctx.enc.tableEnd(t.name);
}

interface SectionContext {
  enc: ReturnType<typeof createDumpEncoder>;
  packer: BlockPacker;
  pages: PageOptions;
  perTable: boolean;
  signal?: AbortSignal;
  progress(t: TableInfo, media: boolean, tableRows: number, pageRows: number, pageBytes: number): void;
}

/** Yields the dump as sealed blocks: header, every table, the media inventory, the trailer. Returns the totals. */
async function* dumpBlocks(db: Db, p: BackupPlan, opts: BackupOptions, packer: BlockPacker): AsyncGenerator<Buffer, DumpTotals> {
  const enc = createDumpEncoder((text) => packer.put(text), (bytes) => packer.putBytes(bytes));
  const memory = createMemoryGovernor();
  const totalRows = p.header.tables.reduce((n, t) => n + t.rows, 0);
  let rowsDone = 0;
  let bytes = 0;
  const ctx: SectionContext = {
    enc,
    packer,
    pages: { ...DEFAULT_PAGES, ...opts.pages },
    perTable: p.header.consistency === 'per-table',
    signal: opts.signal,
    progress(t, media, tableRows, pageRows, pageBytes) {
      bytes += pageBytes;
      memory.tick(pageBytes);
      if (media) return;
      rowsDone += pageRows;
      opts.onProgress?.({ table: t.name, tableRows, tableTotal: t.rows, rows: rowsDone, totalRows, bytes });
    },
  };
  enc.header(p.header);
  for (const t of p.header.tables) yield* section(db, t, false, ctx);
  if (p.media) yield* section(db, p.media, true, ctx);
  const trailer = enc.trailer();
  packer.flush();
  yield* packer.takeSealed();
  return trailer.totals;
}

/** Hashes and counts the bytes as they leave for the sink, and writes them to it in order. */
function toSink(sink: Sink, stats: { bytes: number; hash: ReturnType<typeof createHash> }) {
  return async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      stats.hash.update(chunk);
      stats.bytes += chunk.length;
      await sink.write(chunk);
    }
  };
}

function manifestOf(p: BackupPlan, t: DumpTotals, sink: Sink, stats: { bytes: number; sha256: string }): Manifest {
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    tool: TOOL,
    createdAt: p.header.createdAt,
    source: p.header.source,
    consistency: p.header.consistency,
    selection: p.header.selection,
    tables: t.tables,
    media: p.media && t.media ? { table: p.media.name, ...t.media } : null,
    totalRows: t.totalRows,
    contentSha256: t.contentSha256,
    file: { name: sink.fileName, bytes: stats.bytes, sha256: stats.sha256, encrypted: false },
  };
}

/**
 * Streams a full backup into `sink` (a file, a Blob upload, both, encrypted or not: see sink/). On any failure the
 * sink is aborted: no partial dump survives.
 * @returns what was written, with the manifest the sink committed.
 */
export async function backup(opts: BackupOptions, sink: Sink): Promise<BackupResult> {
  const started = Date.now();
  const db = await openDb(opts.url, { readonly: true, authToken: opts.authToken });
  let opened = false;
  try {
    await db.beginRead();
    const p = await planBackup(db, opts);
    await sink.open();
    opened = true;
    const gzipOpts = { ...DEFAULT_GZIP, ...opts.gzip };
    const packer = createBlockPacker(gzipOpts.blockBytes);
    const stats = { bytes: 0, hash: createHash('sha256') };
    let totals: DumpTotals | null = null;
    async function* all() {
      totals = yield* dumpBlocks(db, p, opts, packer);
    }
    // Async generators end to end: each stage holds only what it is working on (no stream queues).
    await pipeline(all, gzipBlocks(gzipOpts, (b) => packer.release(b)), toSink(sink, stats), { signal: opts.signal });
    await db.endRead();
    const manifest = manifestOf(p, totals!, sink, { bytes: stats.bytes, sha256: stats.hash.digest('hex') });
    // A sink that transforms the bytes (encryption) records what it stored in manifest.file.
    const result = await sink.commit(manifest);
    return {
      mode: 'write',
      source: db.displayUrl,
      consistency: p.header.consistency,
      tables: countsOf(p.header),
      notes: p.header.notes ?? [],
      durationMs: Date.now() - started,
      bytes: manifest.file.bytes,
      sha256: manifest.file.sha256,
      manifest,
      sink: result,
    };
  } catch (e) {
    if (opened) await sink.abort().catch(() => {});
    if (opts.signal?.aborted && !(e instanceof BackupError)) throw interrupted();
    throw e;
  } finally {
    await db.close();
  }
}
