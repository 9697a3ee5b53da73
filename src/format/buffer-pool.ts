/**
 * Buffers the inflater writes members into, used again once the dump's reader is done with them. A restore reads
 * its dump twice, a 1 MiB buffer per member each time: as fresh allocations, that is the dump's whole size in
 * memory outside V8's heap per pass, which only a full collection gives back (a scavenge cannot, once a buffer has
 * outlived two of them while members inflate ahead). Used again, the passes allocate almost nothing of their own,
 * and a scavenge is enough to keep them flat (memory.ts passMemory).
 *
 * The reader gives a buffer back when no event of it can still be read (format/reader.ts: an event is valid until the
 * next one is requested). A buffer given back while something still reads it would hand that reader another
 * member's bytes: a restore would then fail its checksums (pass 1) or its verification on the target (pass 2), never
 * load them silently.
 */

/** Buffers are whole MiBs: a dump's members hold 1 MiB (format/gzip.ts), its last one less. */
const UNIT = 1024 * 1024;
/** Larger outputs (another writer's members) are allocated as before, and left to the collector. */
const MAX_POOLED = 4 * UNIT;

export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  private readonly own = new WeakSet<ArrayBuffer>();

  /** `keep`: free buffers held at most (the members in flight, the one being read, and one carried line's). */
  constructor(private readonly keep = 8) {}

  /** A buffer of exactly `size` bytes, contents undefined: a free one of this pool when one is large enough. */
  take(size: number): Buffer {
    if (size > MAX_POOLED) return Buffer.allocUnsafeSlow(size);
    const i = this.free.findIndex((b) => b.byteLength >= size);
    const backing = i >= 0 ? this.free.splice(i, 1)[0]! : this.allocate(size);
    return Buffer.from(backing, 0, size);
  }

  private allocate(size: number): ArrayBuffer {
    const backing = Buffer.allocUnsafeSlow(Math.max(UNIT, Math.ceil(size / UNIT) * UNIT)).buffer as ArrayBuffer;
    this.own.add(backing);
    return backing;
  }

  /** Nothing reads `bytes` (or any other view of its buffer) any more: the buffer may be handed out again. */
  release(bytes: Uint8Array): void {
    const backing = bytes.buffer as ArrayBuffer;
    if (!this.own.has(backing) || this.free.includes(backing) || this.free.length >= this.keep) return;
    this.free.push(backing);
  }
}
