import type { Manifest } from '../format/lines.js';

/**
 * Where a dump's bytes go. The engine only calls write() in order and awaits each call (that is the backpressure),
 * then commit() once every byte is written, or abort() on any failure. Nothing a sink shows before commit() may
 * look like a complete backup; the manifest is written by commit(), after the dump is durable.
 */
export interface Sink {
  /** What the operator sees: a path or a blob pathname. */
  readonly label: string;
  /** The dump's file name (no directory), recorded in the manifest. */
  readonly fileName: string;
  open(): Promise<void>;
  write(chunk: Buffer): Promise<void>;
  commit(manifest: Manifest): Promise<SinkResult>;
  abort(): Promise<void>;
}

export type SinkResult =
  | { kind: 'file'; path: string; manifestPath: string }
  | { kind: 'blob'; pathname: string; url: string; manifestPathname: string }
  | { kind: 'tee'; results: SinkResult[] };
