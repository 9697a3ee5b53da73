import type { Manifest } from '../format/lines.js';

/**
 * Where a dump's bytes go. The engine only calls write() in order and awaits each call (that is the backpressure),
 * then commit() once every byte is written, or abort() on any failure. Nothing a sink shows before commit() may
 * look like a complete backup; the manifest is written by commit(), after the dump is durable.
 *
 * Sinks are plain objects (a caller may wrap one by spreading it). Backends: file.ts, blob.ts; combinators: tee.ts
 * (several sinks, one pass), encrypt.ts (encrypts on the way to another sink).
 */
export interface Sink {
  /** What the sink is: the type says it, never its label. */
  readonly kind: 'file' | 'blob' | 'tee' | 'encrypted';
  /** What the operator sees: a path or a blob pathname. */
  readonly label: string;
  /** The dump's file name (no directory), recorded in the manifest. */
  readonly fileName: string;
  /** The sinks a combinator writes to (tee, encrypted); absent for a backend. */
  readonly inner?: readonly Sink[];
  open(): Promise<void>;
  /**
   * Resolves once the sink no longer reads `chunk`: the caller may then write into its memory again (the backup
   * compresses its next blocks into the same buffers: format/gzip.ts).
   */
  write(chunk: Buffer): Promise<void>;
  /**
   * Makes the dump durable and visible, then writes `manifest`. `manifest.file` describes the bytes the engine
   * wrote; a sink that stores other bytes (encryption) replaces it with what it stored before writing it.
   */
  commit(manifest: Manifest): Promise<SinkResult>;
  /**
   * Optional, before commit(): hands every written byte to the backend and surfaces any failure of an earlier write
   * (an upload reports a failed part late). A tee flushes every branch before it commits any, so that one branch's
   * failure never leaves another branch's dump complete.
   */
  flush?(): Promise<void>;
  abort(): Promise<void>;
}

export type SinkResult =
  | { kind: 'file'; path: string; manifestPath: string }
  | { kind: 'blob'; pathname: string; url: string; manifestPathname: string }
  | { kind: 'tee'; results: SinkResult[] };

/** True for a sink that writes only to this machine (a file, or an encryption of one): cheap to commit first. */
export const isLocalSink = (s: Sink): boolean => s.kind === 'file' || (s.kind === 'encrypted' && s.inner!.every(isLocalSink));
