/**
 * The SHA-256 of a whole dump stream, as its first reading computes it (the trailer's checksum, format/reader.ts).
 * That reading hashes every byte twice on the JavaScript thread (once for its table, once for the whole stream), and
 * the JavaScript thread bounds it. With the native module the whole-stream hash runs on libuv's thread pool instead,
 * beside the inflating: its updates go one at a time, in order, each reading the bytes where they lie. So a piece of
 * the stream must stay as it is until the hash has read it, and a reader gives its buffers back through `after`.
 */
import { createHash } from 'node:crypto';
import { loadNative, type NativeModule, nativeAllowed } from './native.js';

export interface StreamHash {
  /** Adds `bytes` to the hash: they must not change until the callbacks `after` registers next have run. */
  update(bytes: Buffer): void;
  /** Runs `fn` once every update so far is hashed (at once, when they are). */
  after(fn: () => void): void;
  /** Bytes given to `update` and not yet hashed. */
  readonly pending: number;
  /** Resolves once at most `bytes` are pending: how a reader keeps the hash from falling behind without bound. */
  drain(bytes: number): Promise<void>;
  /** The hex digest of everything updated; rejects when an update failed. */
  digest(): Promise<string>;
}

/** node:crypto on the calling thread: each update is hashed before it returns. */
export function threadHash(): StreamHash {
  const h = createHash('sha256');
  return {
    update: (bytes) => void h.update(bytes),
    after: (fn) => fn(),
    pending: 0,
    drain: async () => {},
    digest: async () => h.digest('hex'),
  };
}

/** No hash at all: a reading that does not check checksums (its result is verified another way). */
export const noHash: StreamHash = { update: () => {}, after: (fn) => fn(), pending: 0, drain: async () => {}, digest: async () => '' };

type Native = Required<Pick<NativeModule, 'sha256' | 'sha256Update' | 'sha256Digest'>>;

/** The native module's SHA-256 on the thread pool. Adjacent views of one buffer go as one update. */
class PoolHash implements StreamHash {
  private readonly state: object;
  /** Bytes to hash, and callbacks to run once everything before them is hashed, in order. */
  private readonly queue: (Buffer | (() => void))[] = [];
  private running = false;
  private failure: Error | null = null;
  private waiters: { bytes: number; resolve: () => void }[] = [];
  pending = 0;

  constructor(private readonly mod: Native) {
    this.state = mod.sha256();
  }

  update(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.pending += bytes.length;
    const last = this.queue[this.queue.length - 1];
    if (last instanceof Buffer && last.buffer === bytes.buffer && last.byteOffset + last.length === bytes.byteOffset) {
      this.queue[this.queue.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + bytes.length);
    } else this.queue.push(bytes);
    this.pump();
  }

  after(fn: () => void): void {
    if (this.running || this.queue.length > 0) this.queue.push(fn);
    else fn();
  }

  async drain(bytes: number): Promise<void> {
    if (this.pending > bytes) await new Promise<void>((resolve) => this.waiters.push({ bytes, resolve }));
  }

  async digest(): Promise<string> {
    await this.drain(0);
    if (this.failure) throw this.failure;
    return this.mod.sha256Digest(this.state).toString('hex');
  }

  /** Starts the next update unless one is running, running the callbacks that come before it. */
  private pump(): void {
    while (!this.running && this.queue.length > 0) {
      const item = this.queue.shift()!;
      if (typeof item === 'function') item();
      else if (this.failure)
        this.pending -= item.length; // digest() rejects; the buffers are still given back
      else {
        this.running = true;
        this.mod.sha256Update(this.state, item).then(
          () => this.finished(item),
          (e: unknown) => {
            this.failure = e instanceof Error ? e : new Error(String(e));
            this.finished(item);
          },
        );
      }
    }
    const ready = this.waiters.filter((w) => this.pending <= w.bytes);
    this.waiters = this.waiters.filter((w) => this.pending > w.bytes);
    for (const w of ready) w.resolve();
  }

  private finished(item: Buffer): void {
    this.running = false;
    this.pending -= item.length;
    this.pump();
  }
}

/** The SHA-256 of the native module's thread pool, or null when it is not there (or not allowed). */
export function poolHash(mod: Partial<NativeModule> | null = nativeAllowed() ? loadNative() : null): StreamHash | null {
  if (!mod?.sha256 || !mod.sha256Update || !mod.sha256Digest) return null;
  return new PoolHash(mod as Native);
}

/** The whole-stream hash a reader uses: on the thread pool when it can be, else on the calling thread. */
export function streamHash(): StreamHash {
  return poolHash() ?? threadHash();
}
