/**
 * The line types of dump format v1 (docs/FORMAT.md). Every line is one JSON value followed by "\n": objects with
 * a "type" for structure, bare arrays for rows.
 */
export const FORMAT_NAME = 'turso-backup';
export const FORMAT_VERSION = 1;

/** One `sqlite_schema` object, in the order a restore replays it. */
export interface SchemaObject {
  type: 'table' | 'index' | 'view' | 'trigger';
  name: string;
  tbl_name: string;
  sql: string;
}

export interface ColumnInfo {
  name: string;
  /** Declared type as written in the schema ('' when none). */
  type: string;
  notnull: boolean;
  /** 1-based position in the primary key, 0 when not part of it. */
  pk: number;
  /** 0 plain, 1 hidden (virtual table), 2 virtual generated, 3 stored generated. */
  hidden: number;
}

export interface TableInfo {
  name: string;
  kind: 'table' | 'virtual';
  /** The virtual table module (fts5, ...) when kind is 'virtual'. */
  module?: string;
  withoutRowid: boolean;
  strict: boolean;
  columns: ColumnInfo[];
  /**
   * The columns each row line holds, in order. For a rowid table without an INTEGER PRIMARY KEY alias the first
   * is the hidden rowid, named "rowid" here (see `rowidColumn`).
   */
  dataColumns: string[];
  /** True when dataColumns[0] is the hidden rowid rather than a declared column. */
  rowidColumn: boolean;
  /** The columns that order the rows for keyset pagination. */
  keyColumns: string[];
  rows: number;
}

export interface Selection {
  tables: string[] | null;
  excludeTables: string[];
}

export interface MediaSpec {
  table: string;
  urlColumn: string;
  pathnameColumn: string;
}

export interface HeaderLine {
  type: 'header';
  format: typeof FORMAT_NAME;
  version: number;
  tool: string;
  createdAt: string;
  source: string;
  /** 'snapshot': every table from one read transaction; 'per-table': each table in its own. */
  consistency: 'snapshot' | 'per-table';
  selection: Selection;
  schema: SchemaObject[];
  tables: TableInfo[];
  media: (MediaSpec & { present: boolean; rows: number }) | null;
  /** Facts the restore needs but the schema does not say. */
  sqlite: { pageSize?: number; userVersion?: number; applicationId?: number; autoVacuum?: number; encoding?: string; journalMode?: 'wal' };
  /** Things the reader should know (e.g. an external-content FTS table rebuilt rather than dumped); absent when none. */
  notes?: string[];
}

export interface TableStartLine {
  type: 'table';
  name: string;
  columns: string[];
}

export interface TableEndLine {
  type: 'end';
  name: string;
  rows: number;
  sha256: string;
}

export interface MediaStartLine {
  type: 'media';
  table: string;
  columns: string[];
}

export interface MediaEndLine {
  type: 'media-end';
  rows: number;
  sha256: string;
}

export interface TrailerLine {
  type: 'trailer';
  tables: number;
  rows: number;
  mediaRows: number;
  /** SHA-256 over every byte of the uncompressed stream before this line. */
  sha256: string;
}

export type StructLine = HeaderLine | TableStartLine | TableEndLine | MediaStartLine | MediaEndLine | TrailerLine;

/** A dump whose size is not the one its manifest (written once the dump was complete) recorded: it changed since. */
export const sizeProblem = (size: number, recorded: unknown) =>
  `its size ${size} differs from the manifest's ${String(recorded)} (the file was changed after its run completed)`;

/** The sidecar manifest: header facts and checksums, for listing backups without reading them. */
export interface Manifest {
  format: typeof FORMAT_NAME;
  version: number;
  tool: string;
  createdAt: string;
  source: string;
  consistency: HeaderLine['consistency'];
  selection: Selection;
  tables: Record<string, { rows: number; sha256: string }>;
  media: { table: string; rows: number; sha256: string } | null;
  totalRows: number;
  contentSha256: string;
  file: { name: string; bytes: number; sha256: string; encrypted: boolean };
  /** The run that wrote this backup (added by the CLI and the cron since issue 15; absent in older manifests). */
  run?: ManifestRun;
}

/** A run's own facts, recorded once in the manifest it writes (src/monitor/run.ts). */
export interface ManifestRun {
  id: string;
  trigger: 'cli' | 'cron';
  startedAt: string;
  /** When every byte of the dump was stored, just before this manifest was written. */
  finishedAt: string;
  durationMs: number;
}
