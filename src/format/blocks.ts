/**
 * Packs encoded text straight into reusable fixed-size blocks: the dump's bytes are written once, into memory
 * that is recycled after compression, instead of a fresh Buffer per page and another per concatenation. This is
 * what keeps a backup's memory flat: allocation churn, not live data, is what makes a V8 process grow.
 */
export interface BlockPacker {
  /** Writes `text` as UTF-8; returns a view of the bytes written (valid until the block is released). */
  put(text: string): Buffer;
  /**
   * Copies `bytes` in (a page of encoded rows), or seals a large page as its own block. `done` is called once the
   * packer no longer reads `bytes`: after the copy, or when that block is released.
   */
  putBytes(bytes: Buffer, done?: () => void): void;
  /** Blocks that are full, in order; the caller hands each to compression, then `release()`s it. */
  takeSealed(): Buffer[];
  /** Seals the partly filled block (end of stream). */
  flush(): void;
  release(block: Buffer): void;
}

export function createBlockPacker(blockBytes: number): BlockPacker {
  const free: ArrayBuffer[] = [];
  const sealed: Buffer[] = [];
  /** Pages sealed as their own blocks, and what to call when they are released (putBytes' `done`). */
  const lent = new Map<Buffer, () => void>();
  let cur: Buffer | null = null;
  let used = 0;

  const seal = () => {
    if (cur && used > 0) sealed.push(cur.subarray(0, used));
    else if (cur) free.push(cur.buffer as ArrayBuffer);
    cur = null;
    used = 0;
  };
  const fresh = (): Buffer => {
    const ab = free.pop();
    return ab ? Buffer.from(ab, 0, blockBytes) : Buffer.allocUnsafeSlow(blockBytes);
  };

  return {
    put(text) {
      const n = Buffer.byteLength(text);
      if (n > blockBytes / 2) {
        // A large piece goes out as its own block rather than being split.
        seal();
        const own = Buffer.from(text);
        sealed.push(own);
        return own;
      }
      if (cur && used + n > blockBytes) seal();
      if (!cur) cur = fresh();
      const view = cur.subarray(used, used + n);
      cur.write(text, used);
      used += n;
      return view;
    },
    putBytes(bytes, done) {
      if (bytes.length > blockBytes / 2) {
        // A large page goes out as its own block rather than being copied.
        seal();
        sealed.push(bytes);
        if (done) lent.set(bytes, done);
        return;
      }
      if (cur && used + bytes.length > blockBytes) seal();
      if (!cur) cur = fresh();
      used += bytes.copy(cur, used);
      done?.();
    },
    takeSealed() {
      return sealed.splice(0, sealed.length);
    },
    flush: seal,
    release(block) {
      const done = lent.get(block);
      if (done) {
        lent.delete(block);
        done();
        return;
      }
      // Only pool blocks (full-size backing store) are recycled; oversized pieces are left to the GC.
      if (block.buffer.byteLength === blockBytes && block.byteOffset === 0 && free.length < 8) free.push(block.buffer as ArrayBuffer);
    },
  };
}
