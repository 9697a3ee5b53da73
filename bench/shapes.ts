/**
 * The bench's data shapes and their cache under bench/data/: `<shape>-v<version>-x<scale>.db` plus a `.json` side
 * file with its row count. A database is rebuilt only when missing or when its builder's version changes (older
 * versions of the same shape and scale are deleted then, to keep the disk use bounded: the 3× files reach ~1 GB).
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBenchDb } from './build-db.js';
import { buildColumns, buildDocuments, buildEvents, buildKeyed, buildLarge, buildNarrow, buildWide } from './build-shapes.js';

/** A data shape: a seeded builder and what it holds. */
export interface Shape {
  name: string;
  /** Bump when the builder writes different data. */
  version: number;
  /** What a reader of the results table needs to know. */
  describe: string;
  /** Writes a new database at `path` with `scale` × the 1× row counts; returns its row count. */
  build: (path: string, scale: number) => number;
}

/** Every shape, in the table's order. Each is ≥ 250 MB on disk at scale 1. */
export const SHAPES: Shape[] = [
  {
    name: 'current',
    version: 1,
    describe: 'bench/build-db.ts: User, Event with JSON payloads, MediaAsset with 0.5–1.5 KiB thumbnails',
    build: (path, scale) => {
      buildBenchDb(path, scale);
      // its loops run `i < n * scale`
      return Math.ceil(100_000 * scale) + Math.ceil(850_000 * scale) + Math.ceil(50_000 * scale);
    },
  },
  {
    name: 'events',
    version: 2,
    describe: "../shared/bench/bigdb.sh's shape: users, events with JSON payloads (80 random hex, REAL score), media with 600 B blobs",
    build: (path, scale) => buildEvents(path, 1_000_000 * scale),
  },
  {
    name: 'wide',
    version: 1,
    describe: 'documents: 1–32 KiB prose TEXT per row, 1–32 KiB random BLOB in one row of five',
    build: (path, scale) => buildWide(path, 20_000 * scale),
  },
  {
    name: 'narrow',
    version: 1,
    describe: 'readings: 5 small integers and a 4–6 character code per row, one two-column index',
    build: (path, scale) => buildNarrow(path, 8_000_000 * scale),
  },
  {
    name: 'large',
    version: 1,
    describe: 'files: 120k rows of file metadata, one in 1,000 with a 1–3 MiB random BLOB, a run of 30 with 1 MiB prose TEXT',
    build: (path, scale) => buildLarge(path, 120_000 * scale),
  },
  {
    name: 'columns',
    version: 1,
    describe: 'metrics: 1.4M rows of 40 columns (counters, prices and computed ratios as REAL, short labels, timestamps, flags)',
    build: (path, scale) => buildColumns(path, 1_400_000 * scale),
  },
  {
    name: 'keyed',
    version: 1,
    describe: 'settings: 3M rows in a WITHOUT ROWID table keyed by two TEXT columns (tenant, key), a short JSON value each',
    build: (path, scale) => buildKeyed(path, 3_000_000 * scale),
  },
  {
    name: 'documents',
    version: 1,
    describe: 'JSON documents: 60k rows of ~7 KiB JSON text (quotes and backslashes escaped in the dump), a TEXT primary key',
    build: (path, scale) => buildDocuments(path, 60_000 * scale),
  },
];

/** A built database: its path, its total row count over all tables, its size on disk. */
export interface BuiltDb {
  path: string;
  rows: number;
  bytes: number;
}

/** The cached database of `shape` at `scale`, built first if needed. */
export function ensureShape(dataDir: string, shape: Shape, scale: number): BuiltDb {
  const x = Number(scale.toPrecision(6)); // 0.1 × 3: x0.3, not x0.30000000000000004
  const base = `${shape.name}-v${shape.version}-x${x}`;
  const path = join(dataDir, `${base}.db`);
  const meta = `${path}.json`;
  if (!existsSync(path) || !existsSync(meta)) {
    const stale = new RegExp(`^${shape.name}-v\\d+-x${String(x).replaceAll('.', '\\.')}\\.db`);
    for (const f of readdirSync(dataDir)) if (stale.test(f)) rmSync(join(dataDir, f));
    const tmp = `${path}.building`;
    rmSync(tmp, { force: true });
    const t = Date.now();
    console.error(`bench: building ${base} …`);
    const rows = shape.build(tmp, scale);
    renameSync(tmp, path);
    writeFileSync(meta, JSON.stringify({ rows }));
    console.error(`bench: built ${base} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const { rows } = JSON.parse(readFileSync(meta, 'utf8')) as { rows: number };
  return { path, rows, bytes: statSync(path).size };
}
