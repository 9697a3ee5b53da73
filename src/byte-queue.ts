/**
 * Bytes arriving in chunks of any size, taken out in exact lengths: the framing readers (the encrypted container's
 * frames, a dump's gzip members) need whole units that a stream cuts anywhere. A unit inside one chunk is a view of
 * it (no copy); only a unit spanning chunks is copied.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  length = 0;

  append(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  /** The first `n` bytes (n ≤ length), removed from the queue. */
  read(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    for (let filled = 0; filled < n; ) {
      const c = this.chunks[0]!;
      const k = Math.min(n - filled, c.length - this.head);
      c.copy(out, filled, this.head, this.head + k);
      filled += k;
      this.advance(k);
    }
    return out;
  }

  private advance(n: number): void {
    this.head += n;
    this.length -= n;
    if (this.head === this.chunks[0]!.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }

  /** The first `n` bytes (fewer if the queue holds fewer), left in the queue. */
  peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    // Only the chunks the n bytes span are joined (a member's 20-byte header across two reads joined every chunk queued).
    const parts: Buffer[] = [];
    for (let i = 0, have = -this.head; i < this.chunks.length && have < n; i++) {
      parts.push(this.chunks[i]!);
      have += this.chunks[i]!.length;
    }
    return Buffer.concat(parts).subarray(this.head, this.head + n);
  }

  /** Everything queued, in order, leaving the queue empty. */
  drain(): Buffer[] {
    const all = this.chunks;
    if (all.length > 0) all[0] = all[0]!.subarray(this.head);
    this.chunks = [];
    this.head = 0;
    this.length = 0;
    return all;
  }
}
