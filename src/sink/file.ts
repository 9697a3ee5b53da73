/**
 * A local file sink: written under a hidden temporary name (`.NAME.partial-<pid>-<hex>`) with mode 0600, fsynced,
 * then renamed into place; the sidecar manifest follows the same way. A failed or interrupted run removes the
 * temporary file, so only complete dumps ever carry the final name. A run killed outright (kill -9, power loss)
 * cannot: `stalePartials` finds what it left (the next backup names them) and `removePartials` deletes them.
 * A full disk reads as such: which path, how much was written, and that nothing was left behind.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statfsSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { onInterrupt } from '../cleanup.js';
import { BackupError, isNoSpace } from '../errors.js';
import type { Manifest } from '../format/lines.js';
import { fmtBytes } from '../units.js';
import type { Sink, SinkResult } from './types.js';

/** The sidecar manifest's path: `<dump>.manifest.json`. */
export const manifestPathFor = (dumpPath: string) => `${dumpPath}.manifest.json`;

/** fsync of a directory, so a rename in it is durable (best effort where the filesystem refuses). */
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

/** `the device holding /abs/dir (2.0 MiB)`: where a full disk is, for a message (the size when it can be read). */
export function deviceOf(dir: string): string {
  const abs = resolve(dir);
  try {
    const fs = statfsSync(abs);
    return `the device holding ${abs} (${fmtBytes(fs.blocks * fs.bsize)})`;
  } catch {
    return `the device holding ${abs}`;
  }
}

/** Writes a small file atomically: temp name, fsync, rename; on any failure the temp file is removed. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    if (isNoSpace(e))
      throw new BackupError('NO_SPACE', `no space left on ${deviceOf(dirname(path))}: ${basename(path)} could not be written; its temporary file was removed`, {
        cause: e,
      });
    throw e;
  }
}

/** `.NAME.partial-<pid>-<8 hex>`; the pid says whether its writer still runs. Names without one (older) also match. */
const PARTIAL = /^\..+\.partial-(?:(\d+)-)?[0-9a-f]{8}$/;

export interface PartialFile {
  path: string;
  bytes: number;
  modified: Date;
  /** The pid of the backup writing it, when that process is still running (then it is not removed). */
  writer: number | null;
}

const alive = (pid: number) => {
  if (pid === process.pid) return false; // ours are created after the scan
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The partial dumps in `dir` (none when it does not exist), with whether a running process still writes each. */
export function stalePartials(dir: string): PartialFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const found: PartialFile[] = [];
  for (const name of names.sort()) {
    const m = PARTIAL.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (!st.isFile()) continue;
      const pid = m[1] ? Number(m[1]) : null;
      found.push({ path, bytes: st.size, modified: st.mtime, writer: pid !== null && alive(pid) ? pid : null });
    } catch {
      // gone meanwhile (its backup finished)
    }
  }
  return found;
}

/** Deletes the partial dumps no running process writes. @returns the paths removed. */
export async function removePartials(partials: PartialFile[]): Promise<string[]> {
  const removed: string[] = [];
  for (const p of partials) {
    if (p.writer !== null) continue;
    await rm(p.path, { force: true });
    removed.push(p.path);
  }
  return removed;
}

/** One line per partial, for a warning. */
export const describePartial = (p: PartialFile) =>
  p.writer !== null
    ? `${p.path} (${fmtBytes(p.bytes)}) is being written by process ${p.writer}, another backup`
    : `${p.path} (${fmtBytes(p.bytes)}, ${p.modified.toISOString()}) is left from an interrupted backup: --clean-partials removes it`;

/** The sidecar manifest of a dump now in place; if it cannot be written the dump is taken back (it is no backup without). */
async function writeManifest(path: string, manifest: Manifest, bytes: number): Promise<string> {
  const manifestPath = manifestPathFor(path);
  try {
    await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    return manifestPath;
  } catch (e) {
    await rm(path, { force: true });
    if (isNoSpace(e)) {
      const where = deviceOf(dirname(path));
      throw new BackupError(
        'NO_SPACE',
        `no space left on ${where}: the manifest of ${basename(path)} (${fmtBytes(bytes)}) could not be written; the dump was removed: nothing was left behind`,
        { cause: e },
      );
    }
    throw e;
  }
}

/**
 * The first path from `dir` up that exists and is a file (the slip in `--out app.db/x.ndjson.gz`), or null when the
 * nearest existing one is a folder. A path below a file cannot be looked at (ENOTDIR): the walk goes on upward.
 */
export function fileOnPath(dir: string): string | null {
  for (let d = dir; d !== dirname(d); d = dirname(d)) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(d, { throwIfNoEntry: false });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
      throw e;
    }
    if (st) return st.isDirectory() ? null : d;
  }
  return null;
}

/**
 * A sink writing the dump to `path` (mode 0600) through a hidden partial file renamed into place once complete,
 * then `<path>.manifest.json`. Refuses to overwrite an existing file.
 */
export function fileSink(path: string): Sink {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fh: FileHandle | null = null;
  let unregister: (() => void) | null = null;
  let written = 0;
  const removeTemp = async () => {
    await fh?.close().catch(() => {});
    fh = null;
    await rm(tmp, { force: true });
  };
  /** A full disk: the partial file is removed first (it holds the space), then the error says so. */
  const noSpace = async (e: unknown, what: string): Promise<never> => {
    await removeTemp();
    throw new BackupError(
      'NO_SPACE',
      `no space left on ${deviceOf(dir)}: ${what} after ${fmtBytes(written)} of ${basename(path)} were written; its partial file ${basename(tmp)} was removed: nothing was left behind`,
      { cause: e },
    );
  };
  /** Any other failure of the disk (EIO, EFBIG, EROFS…): the same cleanup, one SINK error naming the dump. */
  const failed = async (e: unknown, step: string): Promise<never> => {
    if (isNoSpace(e)) return noSpace(e, step === 'flush' ? 'the disk filled up while the dump was flushed' : 'the disk filled up');
    await removeTemp();
    if (e instanceof BackupError) throw e;
    throw new BackupError(
      'SINK',
      `cannot write ${path}: ${(e as Error).message} (after ${fmtBytes(written)}); its partial file ${basename(tmp)} was removed: nothing was left behind`,
      { cause: e },
    );
  };

  return {
    kind: 'file',
    label: path,
    fileName: basename(path),
    async open() {
      if (existsSync(path)) {
        if (statSync(path).isDirectory())
          throw new BackupError('USAGE', `${path} is a directory: --out takes the dump's file name (e.g. ${join(path, 'backup.ndjson.gz')})`);
        throw new BackupError('REFUSED', `${path} already exists: refusing to overwrite a backup`);
      }
      try {
        // Dumps hold PII: a folder made for them is the operator's alone (0700), whatever the umask allows.
        await mkdir(dir, { recursive: true, mode: 0o700 });
        fh = await open(tmp, 'wx', 0o600);
      } catch (e) {
        if (isNoSpace(e)) await noSpace(e, `${basename(tmp)} could not be created`);
        // Permissions, a read-only disk, a file where the folder should be: nothing was written yet.
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === 'EEXIST' || code === 'ENOTDIR' ? `${fileOnPath(dir) ?? dir} is a file, not a folder` : (code ?? (e as Error).message);
        throw new BackupError('SINK', `cannot write a dump into ${dir}: ${why}`, { cause: e });
      }
      unregister = onInterrupt(removeTemp);
    },
    async write(chunk) {
      let off = 0;
      try {
        while (off < chunk.length) off += (await fh!.write(chunk, off)).bytesWritten;
      } catch (e) {
        written += off;
        return failed(e, 'write');
      }
      written += off;
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
        await failed(e, 'flush');
      } finally {
        unregister?.();
      }
      return { kind: 'file', path, manifestPath: await writeManifest(path, manifest, written) };
    },
    async abort() {
      unregister?.();
      await removeTemp();
    },
  };
}
