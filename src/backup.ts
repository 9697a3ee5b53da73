/**
 * The backup pipeline: one read snapshot → schema and counts → every selected table by keyset pages → typed NDJSON
 * lines with checksums → parallel gzip (→ encryption) → a sink. Memory is bounded by a page and the gzip blocks in
 * flight, whatever the database's size.
 */
import { createHash } from 'node:crypto';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BackupError } from './errors.js';
import { createBlockPacker, type BlockPacker } from './format/blocks.js';
import { DEFAULT_GZIP, gzipBlocks, type GzipOptions } from './format/gzip.js';
import { FORMAT_NAME, FORMAT_VERSION, type HeaderLine, type Manifest, type MediaSpec, type Selection, type TableInfo } from './format/lines.js';
import { createDumpEncoder, type DumpTotals } from './format/writer.js';
import { createMemoryGovernor } from './memory.js';
import { introspect } from './source/schema.js';
import { openSource } from './source/open.js';
import { DEFAULT_PAGES, tablePages, type PageOptions } from './source/pages.js';
import { q } from './source/sql.js';
import type { Source } from './source/types.js';
import type { Sink, SinkResult } from './sink/types.js';
import { TOOL } from './version.js';

export const DEFAULT_MEDIA: MediaSpec = { table: 'MediaAsset', urlColumn: 'url', pathnameColumn: 'blobPathname' };

export interface BackupProgress {
  table: string;
  tableRows: number;
  tableTotal: number;
  rows: number;
  totalRows: number;
  bytes: number;
}

export interface BackupOptions {
  url: string;
  authToken?: string;
  selection?: Partial<Selection>;
  media?: Partial<MediaSpec>;
  consistency?: 'snapshot' | 'per-table';
  gzip?: Partial<GzipOptions>;
  pages?: Partial<PageOptions>;
  /** Wraps the gzip stream (encryption); receives and yields bytes. */
  transform?: () => Transform;
  encrypted?: boolean;
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

interface Plan {
  header: HeaderLine;
  media: TableInfo | null;
}

async function plan(source: Source, opts: BackupOptions): Promise<Plan> {
  const selection: Selection = { tables: opts.selection?.tables ?? null, excludeTables: opts.selection?.excludeTables ?? [] };
  const mediaSpec: MediaSpec = { ...DEFAULT_MEDIA, ...opts.media };
  const facts = await introspect(source, selection);
  const tables: TableInfo[] = [];
  for (const t of facts.tables) {
    const rows = t.dataColumns.length === 0 ? 0 : Number((await source.query(`SELECT count(*) FROM ${q(t.name)}`))[0]![0]);
    tables.push({ ...t, rows });
  }
  const mediaTable = mediaInventory(tables.find((t) => t.name === mediaSpec.table));
  const header: HeaderLine = {
    type: 'header',
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    tool: TOOL,
    createdAt: new Date().toISOString(),
    source: source.displayUrl,
    consistency: opts.consistency ?? 'snapshot',
    selection,
    schema: facts.schema,
    tables,
    media: mediaTable ? { ...mediaSpec, present: true, rows: mediaTable.rows } : null,
    sqlite: facts.sqlite,
    ...(facts.notes.length ? { notes: facts.notes } : {}),
  };
  return { header, media: mediaTable };
}

/**
 * The media inventory is the media table's rows without its binary columns: Blob URLs and metadata are what
 * media-check and relink need, and the table's own section already carries every byte.
 */
function mediaInventory(t: TableInfo | undefined): TableInfo | null {
  if (!t) return null;
  const binary = new Set(t.columns.filter((c) => /blob/i.test(c.type)).map((c) => c.name));
  const dataColumns = t.dataColumns.filter((c) => t.keyColumns.includes(c) || !binary.has(c));
  return { ...t, dataColumns };
}

const countsOf = (h: HeaderLine) => Object.fromEntries(h.tables.map((t) => [t.name, t.rows]));

/** Dry run: schema and per-table counts from one snapshot; writes nothing. */
export async function inspect(opts: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const source = await openSource(opts.url, opts.authToken);
  try {
    await source.beginSnapshot();
    const { header } = await plan(source, opts);
    await source.endSnapshot();
    return {
      mode: 'dry-run',
      source: source.displayUrl,
      consistency: header.consistency,
      tables: countsOf(header),
      notes: (header as { notes?: string[] }).notes ?? [],
      durationMs: Date.now() - started,
    };
  } finally {
    await source.close();
  }
}

/** Yields the dump as sealed blocks: the encoder writes into `packer`, this hands on whatever it sealed. */
async function* dumpBlocks(source: Source, p: Plan, opts: BackupOptions, packer: BlockPacker) {
  const enc = createDumpEncoder((text) => packer.put(text));
  const memory = createMemoryGovernor();
  const pages = { ...DEFAULT_PAGES, ...opts.pages };
  const totalRows = p.header.tables.reduce((n, t) => n + t.rows, 0);
  let rowsDone = 0;
  let bytes = 0;
  enc.header(p.header);
  const perTable = p.header.consistency === 'per-table';
  const section = async function* (t: TableInfo, media: boolean) {
    // per-table: each table (and the media inventory) in a fresh read snapshot, counted inside it.
    let expected = t.rows;
    if (perTable && t.dataColumns.length > 0) {
      await source.endSnapshot();
      await source.beginSnapshot();
      expected = Number((await source.query(`SELECT count(*) FROM ${q(t.name)}`))[0]![0]);
    }
    if (media) enc.mediaStart(t.name, t.dataColumns);
    else enc.tableStart(t.name, t.dataColumns);
    let n = 0;
    for await (const page of tablePages(source, t, pages)) {
      if (opts.signal?.aborted) throw new BackupError('INTERRUPTED', 'backup interrupted: no dump or manifest was left behind');
      const buf = enc.rows(page);
      n += page.length;
      // Never more rows than counted in the snapshot: fail now rather than write an ever-growing dump.
      if (n > expected) throw new BackupError('SNAPSHOT', `table "${t.name}" gave more rows than the ${expected} counted: the read snapshot was lost`);
      bytes += buf.length;
      memory.tick(buf.length);
      if (!media) {
        rowsDone += page.length;
        opts.onProgress?.({ table: t.name, tableRows: n, tableTotal: t.rows, rows: rowsDone, totalRows, bytes });
      }
      yield* packer.takeSealed();
    }
    if (n !== expected) {
      // The count and the rows come from one snapshot: a difference means the snapshot was not held.
      throw new BackupError('SNAPSHOT', `table "${t.name}" changed during the backup (${expected} rows counted, ${n} read): the read snapshot was lost`);
    }
    if (media) enc.mediaEnd();
    else enc.tableEnd(t.name);
  };
  for (const t of p.header.tables) yield* section(t, false);
  if (p.media) yield* section(p.media, true);
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

/** Streams a full backup into `sink`. On any failure the sink is aborted: no partial dump survives. */
export async function backup(opts: BackupOptions, sink: Sink): Promise<BackupResult> {
  const started = Date.now();
  const source = await openSource(opts.url, opts.authToken);
  let opened = false;
  try {
    await source.beginSnapshot();
    const p = await plan(source, opts);
    await sink.open();
    opened = true;
    const gzipOpts = { ...DEFAULT_GZIP, ...opts.gzip };
    const packer = createBlockPacker(gzipOpts.blockBytes);
    const stats = { bytes: 0, hash: createHash('sha256') };
    let totals: DumpTotals | null = null;
    async function* all() {
      totals = yield* dumpBlocks(source, p, opts, packer);
    }
    const gz = gzipBlocks(gzipOpts, (b) => packer.release(b));
    // Async generators end to end: each stage holds only what it is working on (no stream queues).
    if (opts.transform) await pipeline(all, gz, opts.transform(), toSink(sink, stats), { signal: opts.signal });
    else await pipeline(all, gz, toSink(sink, stats), { signal: opts.signal });
    await source.endSnapshot();
    const sha256 = stats.hash.digest('hex');
    const t = totals! as DumpTotals;
    const manifest: Manifest = {
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
      file: { name: sink.fileName, bytes: stats.bytes, sha256, encrypted: opts.encrypted ?? false },
    };
    const result = await sink.commit(manifest);
    return {
      mode: 'write',
      source: source.displayUrl,
      consistency: p.header.consistency,
      tables: countsOf(p.header),
      notes: (p.header as { notes?: string[] }).notes ?? [],
      durationMs: Date.now() - started,
      bytes: stats.bytes,
      sha256,
      manifest,
      sink: result,
    };
  } catch (e) {
    if (opened) await sink.abort().catch(() => {});
    if (opts.signal?.aborted && !(e instanceof BackupError)) throw new BackupError('INTERRUPTED', 'backup interrupted: no dump or manifest was left behind');
    throw e;
  } finally {
    await source.close();
  }
}
