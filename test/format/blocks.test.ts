/**
 * The block packer (src/format/blocks.ts): what a page's owner is told about its memory. A page copied into a block
 * is free at once; a page sealed as its own block is read by compression until the block is released, and its
 * owner (the backup's reader thread, which writes the next page into that memory) must not have it back before.
 */
import { describe, expect, it } from 'vitest';
import { createBlockPacker } from '../../src/format/blocks.js';

describe('createBlockPacker: pages lent to it', () => {
  it('a page copied into a block is given back at once, and the block holds its bytes', () => {
    const packer = createBlockPacker(1024);
    const page = Buffer.from('a'.repeat(300));
    let done = 0;
    packer.putBytes(page, () => done++);
    expect(done).toBe(1);
    page.fill(0x62); // the owner writes its next page into that memory
    packer.flush();
    const [block] = packer.takeSealed();
    expect(block!.toString()).toBe('a'.repeat(300));
  });

  it('a page sealed as its own block is given back only when that block is released, once', () => {
    const packer = createBlockPacker(1024);
    const small = Buffer.from('s'.repeat(100));
    const large = Buffer.from('L'.repeat(600));
    let smallDone = 0;
    let largeDone = 0;
    packer.putBytes(small, () => smallDone++);
    packer.putBytes(large, () => largeDone++);
    const sealed = packer.takeSealed();
    expect(sealed.map((b) => b.toString())).toEqual(['s'.repeat(100), 'L'.repeat(600)]);
    expect(sealed[1]).toBe(large);
    expect([smallDone, largeDone]).toEqual([1, 0]);
    packer.release(sealed[0]!);
    expect(largeDone).toBe(0);
    packer.release(sealed[1]!);
    packer.release(sealed[1]!);
    expect(largeDone).toBe(1);
  });

  it('a page given without an owner to tell is packed as before', () => {
    const packer = createBlockPacker(1024);
    packer.putBytes(Buffer.from('x'.repeat(700)));
    packer.putBytes(Buffer.from('y'.repeat(10)));
    packer.flush();
    const sealed = packer.takeSealed();
    expect(sealed.map((b) => b.toString())).toEqual(['x'.repeat(700), 'y'.repeat(10)]);
    for (const b of sealed) packer.release(b);
  });
});
