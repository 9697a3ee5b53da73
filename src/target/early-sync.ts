/**
 * A scratch file's data synced ahead of its publish (target/local.ts): one fdatasync at a time runs while the load
 * commits, so the disk writes the rows as they come, and once they are all committed one more sync finds little
 * left. Synced only once the rows were all committed, the wide bench shape's 300 MB file took ~0.2 s more after the
 * verifying thread's last read (docs/BENCHMARKS.md). A failed sync fails the publish: the file may not be on disk.
 */
import { open } from 'node:fs/promises';

/** fdatasync of `path` through a descriptor of its own, on the thread pool. */
export async function syncData(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

export class EarlySync {
  private running: Promise<void> | null = null;
  private last: Promise<void> | null = null;
  private failure: unknown = null;

  /** `sync`: what syncs `path` (syncData; the tests give one that fails). */
  constructor(
    private readonly path: string,
    private readonly sync: (path: string) => Promise<void> = syncData,
  ) {}

  /** The load committed: a sync starts unless one is running (or the last one was asked for). */
  committed(): void {
    if (this.running || this.last) return;
    const run: Promise<void> = this.sync(this.path)
      .catch((e: unknown) => {
        this.failure ??= e;
      })
      .finally(() => {
        if (this.running === run) this.running = null;
      });
    this.running = run;
  }

  /** Every row is committed: the last sync starts once the running one is done (it may have begun before them). */
  rowsLoaded(): void {
    this.last = (this.running ?? Promise.resolve()).then(() => this.sync(this.path));
    this.last.catch(() => {}); // awaited by done(); a rollback leaves it
  }

  /** Resolves once the last sync is done; its failure, or an earlier one's, is thrown. */
  async done(): Promise<void> {
    await this.last;
    if (this.failure) throw this.failure;
  }
}
