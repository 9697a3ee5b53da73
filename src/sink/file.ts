/**
 * A local file sink: written under a hidden temporary name with mode 0600, fsynced, then renamed into place; the
 * sidecar manifest follows the same way. An interrupted or failed run removes the temporary file, so only complete
 * dumps ever carry the final name.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { onInterrupt } from '../cleanup.js';
import { BackupError } from '../errors.js';
import type { Manifest } from '../format/lines.js';
import type { Sink, SinkResult } from './types.js';

export const manifestPathFor = (dumpPath: string) => `${dumpPath}.manifest.json`;

export async function fsyncDir(dir: string) {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // some filesystems refuse fsync on directories; the rename itself is still atomic
  } finally {
    await fh.close();
  }
}

/** Writes a small file atomically: temp name, fsync, rename. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export function fileSink(path: string): Sink {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.partial-${randomBytes(4).toString('hex')}`);
  let fh: FileHandle | null = null;
  let unregister: (() => void) | null = null;
  const removeTemp = async () => {
    await fh?.close().catch(() => {});
    fh = null;
    await rm(tmp, { force: true });
  };

  return {
    kind: 'file',
    label: path,
    fileName: basename(path),
    async open() {
      if (existsSync(path)) throw new BackupError('REFUSED', `${path} already exists: refusing to overwrite a backup`);
      await mkdir(dir, { recursive: true });
      fh = await open(tmp, 'wx', 0o600);
      unregister = onInterrupt(removeTemp);
    },
    async write(chunk) {
      let off = 0;
      while (off < chunk.length) off += (await fh!.write(chunk, off)).bytesWritten;
    },
    async commit(manifest: Manifest): Promise<SinkResult> {
      try {
        await fh!.sync();
        await fh!.close();
        fh = null;
        if (existsSync(path)) throw new BackupError('REFUSED', `${path} appeared while the backup ran: not overwriting it`);
        await rename(tmp, path);
        await fsyncDir(dir);
      } catch (e) {
        await removeTemp();
        throw e;
      } finally {
        unregister?.();
      }
      const manifestPath = manifestPathFor(path);
      await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
      return { kind: 'file', path, manifestPath };
    },
    async abort() {
      unregister?.();
      await removeTemp();
    },
  };
}
