/**
 * The backup pipeline: one read snapshot → schema and counts → every selected table by keyset pages, encoded by
 * SQLite where it can (db/encode.ts) → typed NDJSON lines with checksums → parallel gzip (→ encryption) → a sink.
 * Memory is bounded by a page and the gzip blocks in flight, whatever the database's size.
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { openDb } from '../db/open.js';
import type { PageOptions } from '../db/pages.js';
import { BackupError } from '../errors.js';
import { createBlockPacker, type BlockPacker } from '../format/blocks.js';
import { defaultDeflater, gzipBlocks, type GzipOptions, gzipOptions } from '../format/gzip.js';
import { FORMAT_NAME, FORMAT_VERSION, type Manifest, type MediaSpec, type Selection } from '../format/lines.js';
import { createDumpEncoder, type DumpTotals } from '../format/writer.js';
import { createMemoryGovernor } from '../memory.js';
import { trace } from '../trace.js';
import type { Sink, SinkResult } from '../sink/types.js';
import { TOOL } from '../version.js';
import { countsOf, planBackup, type BackupPlan } from './plan.js';
import { sourceEvents } from './reader.js';
import type { SourceEvent } from './source.js';

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
  const db = await openDb(opts.url, { readonly: true, authToken: opts.authToken, signal: opts.signal });
  try {
    await db.beginRead();
    const { header } = await planBackup(db, opts);
    await db.endRead();
    return {
      mode: 'dry-run',
      source: db.displayUrl,
      consistency: header.consistency,
      tables: countsOf(header),
      notes: header.notes ?? [],
      durationMs: Date.now() - started,
    };
  } finally {
    await db.close();
  }
}

/** Progress as the pages go by (row counts from the plan; the media inventory is not counted). */
function progressOf(plan: BackupPlan, opts: BackupOptions) {
  const memory = createMemoryGovernor({ everyBytes: 32 * 1024 * 1024 });
  const totalRows = plan.header.tables.reduce((n, t) => n + t.rows, 0);
  const totals = new Map(plan.header.tables.map((t) => [t.name, t.rows]));
  let rows = 0;
  let bytes = 0;
  let tableRows = 0;
  return {
    section: () => {
      tableRows = 0;
    },
    page(table: string, media: boolean, pageRows: number, pageBytes: number) {
      bytes += pageBytes;
      memory.tick(pageBytes);
      if (media) return;
      rows += pageRows;
      tableRows += pageRows;
      opts.onProgress?.({ table, tableRows, tableTotal: totals.get(table) ?? 0, rows, totalRows, bytes });
    },
  };
}

/** Turns the source's events into the dump's sealed blocks: yields them in order, returns the totals. */
async function* dumpBlocks(
  events: AsyncGenerator<SourceEvent>,
  plan: BackupPlan,
  opts: BackupOptions,
  packer: BlockPacker,
): AsyncGenerator<Buffer, DumpTotals> {
  const enc = createDumpEncoder(
    (text) => packer.put(text),
    (bytes, done) => packer.putBytes(bytes, done),
  );
  const progress = progressOf(plan, opts);
  let current: { name: string; media: boolean } | null = null;
  enc.header(plan.header);
  for await (const ev of events) {
    if (opts.signal?.aborted) throw interrupted();
    if (ev.kind === 'section') {
      current = ev;
      progress.section();
      if (ev.media) enc.mediaStart(ev.name, ev.columns);
      else enc.tableStart(ev.name, ev.columns);
    } else if (ev.kind === 'page') {
      // Read first: once released, the page's memory belongs to the reader thread again.
      progress.page(current!.name, current!.media, ev.rows, ev.bytes.length);
      enc.rows(ev.bytes, ev.rows, ev.release);
    } else if (ev.kind === 'end') {
      if (ev.media) enc.mediaEnd(ev.sha256);
      else enc.tableEnd(ev.name, ev.sha256);
    }
    yield* packer.takeSealed();
  }
  const trailer = enc.trailer();
  packer.flush();
  yield* packer.takeSealed();
  return trailer.totals;
}

/**
 * Hashes and counts the bytes as they leave for the sink, and writes them to it in order; each chunk's memory is
 * handed back to compression once written (`written`).
 */
function toSink(sink: Sink, stats: { bytes: number; hash: ReturnType<typeof createHash> }, written: (chunk: Buffer) => void) {
  return async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      stats.hash.update(chunk);
      stats.bytes += chunk.length;
      await sink.write(chunk);
      written(chunk);
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
  const events = sourceEvents(opts);
  let opened = false;
  try {
    const first = await events.next();
    if (first.done || first.value.kind !== 'plan') throw new BackupError('INTERNAL', 'the backup source did not start with its plan');
    const p = first.value.plan;
    trace('backup: snapshot open, plan read');
    await sink.open();
    opened = true;
    const gzipOpts = gzipOptions(opts.gzip);
    const packer = createBlockPacker(gzipOpts.blockBytes);
    const stats = { bytes: 0, hash: createHash('sha256') };
    let totals: DumpTotals | null = null;
    async function* all() {
      totals = yield* dumpBlocks(events, p, opts, packer);
    }
    // Async generators end to end: each stage holds only what it is working on (no stream queues).
    const deflater = defaultDeflater();
    await pipeline(
      all,
      gzipBlocks(gzipOpts, (b) => packer.release(b), deflater),
      toSink(sink, stats, (chunk) => deflater.reuse?.(chunk)),
      { signal: opts.signal },
    );
    trace('backup: rows read, compressed and written');
    const manifest = manifestOf(p, totals!, sink, { bytes: stats.bytes, sha256: stats.hash.digest('hex') });
    // A sink that transforms the bytes (encryption) records what it stored in manifest.file.
    const result = await sink.commit(manifest);
    trace('backup: published');
    return {
      mode: 'write',
      source: p.header.source,
      consistency: p.header.consistency,
      // What the dump holds: a per-table backup counts each table again in its own snapshot, after the plan's.
      tables: Object.fromEntries(Object.entries(totals!.tables).map(([name, t]) => [name, t.rows])),
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
    // Stops the source (a reader thread is terminated) whatever happened.
    await events.return(undefined);
  }
}
