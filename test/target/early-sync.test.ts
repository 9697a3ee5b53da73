/**
 * The scratch file's early syncs (src/target/early-sync.ts): one at a time while the load commits, one more once
 * every row is committed, and any failure among them fails the publish that waits for them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EarlySync } from '../../src/target/early-sync.js';

const dir = mkdtempSync(join(tmpdir(), 'early-sync-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A sync that records its calls and ends when the test says so. */
function heldSyncs() {
  const calls: { path: string; end: (e?: Error) => void }[] = [];
  const sync = (path: string) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ path, end: (e) => (e ? reject(e) : resolve()) });
    });
  return { calls, sync };
}

const settled = () => new Promise((r) => setTimeout(r, 5));

describe('EarlySync', () => {
  it('runs one sync at a time while the load commits, and starts the next only once it ended', async () => {
    const { calls, sync } = heldSyncs();
    const early = new EarlySync('/x', sync);
    early.committed();
    early.committed();
    early.committed();
    expect(calls).toHaveLength(1);
    calls[0]!.end();
    await settled();
    early.committed();
    expect(calls.map((c) => c.path)).toEqual(['/x', '/x']);
  });

  it('once every row is committed, one more sync starts after the running one, and the publish waits for it', async () => {
    const { calls, sync } = heldSyncs();
    const early = new EarlySync('/x', sync);
    early.committed();
    early.rowsLoaded();
    let done = false;
    const waiting = early.done().then(() => (done = true));
    await settled();
    expect(calls).toHaveLength(1); // the last one waits: the running sync may have begun before the last commit
    calls[0]!.end();
    await settled();
    expect(calls).toHaveLength(2);
    early.committed(); // nothing after the last one
    expect(calls).toHaveLength(2);
    expect(done).toBe(false);
    calls[1]!.end();
    await waiting;
    expect(done).toBe(true);
  });

  it('a sync that failed while the load ran fails the publish, though the last one succeeded', async () => {
    const { calls, sync } = heldSyncs();
    const early = new EarlySync('/x', sync);
    early.committed();
    calls[0]!.end(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    await settled();
    early.rowsLoaded();
    await settled();
    calls[1]!.end();
    await expect(early.done()).rejects.toMatchObject({ code: 'EIO' });
  });

  it('the last sync failing fails the publish', async () => {
    const { calls, sync } = heldSyncs();
    const early = new EarlySync('/x', sync);
    early.rowsLoaded();
    await settled();
    calls[0]!.end(new Error('ENOSPC'));
    await expect(early.done()).rejects.toThrow('ENOSPC');
  });

  it('syncs a real file, and a file that is gone fails the publish', async () => {
    const file = join(dir, 'db');
    writeFileSync(file, 'rows');
    const early = new EarlySync(file);
    early.committed();
    early.rowsLoaded();
    await expect(early.done()).resolves.toBeUndefined();

    const gone = new EarlySync(join(dir, 'gone'));
    gone.committed();
    gone.rowsLoaded();
    await expect(gone.done()).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('with no rows loaded (nothing followed the load) there is nothing to wait for', async () => {
    const { calls, sync } = heldSyncs();
    await expect(new EarlySync('/x', sync).done()).resolves.toBeUndefined();
    expect(calls).toHaveLength(0);
  });
});
