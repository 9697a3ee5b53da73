/**
 * The Sink contract (src/sink/types.ts), run against every sink: a local file (src/sink/file.ts), a Vercel Blob
 * upload (src/sink/blob.ts, against the Blob stand-in driven by the real @vercel/blob client), a tee of both
 * (src/sink/tee.ts), and the encrypting sink (src/sink/encrypt.ts) wrapping a file and wrapping a Blob upload.
 * Every sink must:
 *
 * - store exactly the bytes written, in chunks of odd sizes and one bigger than a Blob part (decrypted with the key
 *   for an encrypted sink), in every destination;
 * - show nothing that looks complete before commit: no dump and no manifest under their names;
 * - write the manifest on commit, after the dump, describing the stored bytes (size, SHA-256, encrypted or not);
 *   when the dump cannot take its name at commit (another run stored one there meanwhile), write no manifest and
 *   leave the other run's bytes alone;
 * - leave nothing at all after abort(): no dump, no manifest, no temporary file, no blob (an unfinished multipart
 *   upload is not a blob);
 * - surface a failure of its backend mid-write (a disk that stops growing the file, a Blob store answering a part
 *   with a server error and no retries left) as a SINK error, and then abort cleanly, leaving nothing.
 */
import { list, put } from '@vercel/blob';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { listBackups } from '../../src/blob/list.js';
import { createDecryptStream } from '../../src/crypto/container.js';
import { BackupError } from '../../src/errors.js';
import { FORMAT_NAME, FORMAT_VERSION, type Manifest } from '../../src/format/lines.js';
import { blobSink } from '../../src/sink/blob.js';
import { encryptSink } from '../../src/sink/encrypt.js';
import { fileSink, manifestPathFor } from '../../src/sink/file.js';
import { teeSink } from '../../src/sink/tee.js';
import type { Sink } from '../../src/sink/types.js';
import { applyEnv, withBlobEnv } from '../support/blob-env.js';
import { startBlobServer } from '../support/blob-server.js';
import { listDir, rejection, tempDirs } from '../support/dumps.js';
import { withFileSizeLimit } from '../support/file-size-limit.js';
import { prngBytes } from '../support/nasty-db.js';

const dirs = tempDirs('tb-contract-sink-');
afterAll(() => dirs.cleanup());

const TOKEN = 'vercel_blob_rw_contractstore_s3cr3tValue42';
const KEY = randomBytes(32);
const MiB = 1024 * 1024;
/**
 * Blob parts of 1 MiB, so that a few MiB span several parts (Vercel's minimum part is 5 MiB; the stand-in, like the
 * Blob tests, does not enforce it, and the sink's logic does not depend on the size).
 */
const PART = MiB;

/** One test's world: a directory for files, and the Blob stand-in the real client is pointed at meanwhile. */
interface Env {
  dir: string;
  /** The Blob sink's own retries (undefined: its default policy). */
  blobRetries?: number;
}

/** Where a sink's bytes end up: a directory or a Blob store. */
interface Destination {
  /** The dump stored under `name` and its manifest (null where there is none). */
  read(name: string): Promise<{ dump: Buffer | null; manifest: Manifest | null }>;
  /** Stores `bytes` under the dump's name, as another run would. */
  occupy(name: string, bytes: Buffer): Promise<void>;
  /** Everything anyone can see there: file names (hidden ones included), blob pathnames. */
  visible(): Promise<string[]>;
}

interface SinkBackend {
  name: string;
  /** Whether the stored bytes are the encrypted container (read back with the key). */
  encrypted: boolean;
  /**
   * What the failure test breaks: 'disk', the local disk stops growing the file; 'store', the Blob store answers a
   * part with a server error and neither the client nor the sink retries. A tee breaks its Blob branch, so that its
   * file branch must be cleaned up too.
   */
  breaks: 'disk' | 'store';
  make(env: Env, name: string): Sink;
  destinations(env: Env): Destination[];
}

const fileAt = (env: Env, name: string) => fileSink(join(env.dir, name));
const blobAt = (env: Env, name: string) => blobSink(`backups/${name}`, { token: TOKEN, partSize: PART, retries: env.blobRetries });

function fileDestination(env: Env): Destination {
  const read = (path: string) => (existsSync(path) ? readFileSync(path) : null);
  return {
    async read(name) {
      const manifest = read(manifestPathFor(join(env.dir, name)));
      return { dump: read(join(env.dir, name)), manifest: manifest && (JSON.parse(manifest.toString()) as Manifest) };
    },
    async occupy(name, bytes) {
      writeFileSync(join(env.dir, name), bytes);
    },
    visible: async () => listDir(env.dir),
  };
}

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (res.status !== 200) throw new Error(`download of ${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

function blobDestination(): Destination {
  const read = async (pathname: string) => {
    const found = (await list({ prefix: pathname, token: TOKEN })).blobs.find((b) => b.pathname === pathname);
    return found ? download(found.url) : null;
  };
  return {
    async read(name) {
      const manifest = await read(`backups/${name}.manifest.json`);
      return { dump: await read(`backups/${name}`), manifest: manifest && (JSON.parse(manifest.toString()) as Manifest) };
    },
    async occupy(name, bytes) {
      await put(`backups/${name}`, bytes, { access: 'private', addRandomSuffix: false, token: TOKEN });
    },
    visible: async () => (await list({ token: TOKEN })).blobs.map((b) => b.pathname).sort(),
  };
}

const BACKENDS: SinkBackend[] = [
  { name: 'file', encrypted: false, breaks: 'disk', make: fileAt, destinations: (env) => [fileDestination(env)] },
  { name: 'Vercel Blob (stand-in)', encrypted: false, breaks: 'store', make: blobAt, destinations: () => [blobDestination()] },
  {
    name: 'tee of file and Blob',
    encrypted: false,
    breaks: 'store',
    make: (env, name) => teeSink([fileAt(env, name), blobAt(env, name)]),
    destinations: (env) => [fileDestination(env), blobDestination()],
  },
  {
    name: 'encrypted file',
    encrypted: true,
    breaks: 'disk',
    make: (env, name) => encryptSink(fileAt(env, name), KEY),
    destinations: (env) => [fileDestination(env)],
  },
  {
    name: 'encrypted Blob',
    encrypted: true,
    breaks: 'store',
    make: (env, name) => encryptSink(blobAt(env, name), KEY),
    destinations: () => [blobDestination()],
  },
];

/**
 * A fresh directory and Blob stand-in for `fn`, the real client pointed at it. With `failPart`, the store fails that
 * part's first attempt and the client does not retry (VERCEL_BLOB_RETRIES=0): what happens next is the sink's.
 */
async function inEnv<T>(fn: (env: Env) => Promise<T>, opts: { failPart?: number; blobRetries?: number } = {}): Promise<T> {
  const dir = dirs.make();
  const store = await startBlobServer({ dir: mkdtempSync(join(dirs.make(), 'store-')), token: TOKEN, failPart: opts.failPart });
  const restoreEnv = applyEnv({
    ...withBlobEnv(store),
    VERCEL_BLOB_RETRIES: opts.failPart === undefined ? process.env.VERCEL_BLOB_RETRIES : '0',
  });
  try {
    return await fn({ dir, blobRetries: opts.blobRetries });
  } finally {
    restoreEnv();
    await store.close();
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** 3.5 MiB of incompressible bytes, cut as the gzip stage never would: 1 byte, odd sizes, and one chunk of 2.5 parts. */
const DATA = prngBytes(3.5 * MiB + 13, 42);
const CUTS = [1, 7, 4099, 100_003, 100_003 + 2.5 * PART, 3 * MiB + 77];

/** `data` cut at CUTS (those inside it). */
function chunksOf(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...CUTS.filter((c) => c < data.length), data.length]) {
    out.push(data.subarray(prev, c));
    prev = c;
  }
  return out;
}

async function writeAll(sink: Sink, data = DATA): Promise<void> {
  for (const chunk of chunksOf(data)) await sink.write(chunk);
}

/** The manifest the engine hands to commit(): it describes the bytes it wrote (backup.ts manifestOf). */
function manifestFor(sink: Sink, data: Buffer): Manifest {
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    tool: 'contract-test',
    createdAt: '2024-05-06T07:08:09.000Z',
    source: 'file:contract.db',
    consistency: 'snapshot',
    selection: { tables: null, excludeTables: [] },
    tables: { t: { rows: 1, sha256: sha256(Buffer.from('t')) } },
    media: null,
    totalRows: 1,
    contentSha256: sha256(Buffer.from('content')),
    file: { name: sink.fileName, bytes: data.length, sha256: sha256(data), encrypted: false },
  };
}

async function decrypt(stored: Buffer): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of Readable.from([stored]).pipe(createDecryptStream(KEY))) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

/** Nothing of dump `name` is there under its name, in any destination. */
async function expectNothingComplete(env: Env, backend: SinkBackend, name: string) {
  for (const d of backend.destinations(env)) expect(await d.read(name)).toEqual({ dump: null, manifest: null });
  expect((await listBackups(TOKEN)).backups).toEqual([]);
}

/** Nothing at all is left in any destination. */
async function expectNothingLeft(env: Env, backend: SinkBackend) {
  for (const d of backend.destinations(env)) expect(await d.visible()).toEqual([]);
}

describe.each(BACKENDS)('Sink contract: $name', (backend) => {
  it('stores exactly the bytes written, in odd chunks and one bigger than a Blob part; the manifest describes them', () =>
    inEnv(async (env) => {
      const name = 'roundtrip.ndjson.gz';
      const sink = backend.make(env, name);
      await sink.open();
      await writeAll(sink);
      await expectNothingComplete(env, backend, name);
      const given = manifestFor(sink, DATA);
      await sink.commit(structuredClone(given));
      for (const d of backend.destinations(env)) {
        const { dump, manifest } = await d.read(name);
        expect(dump).not.toBeNull();
        expect(sha256(backend.encrypted ? await decrypt(dump!) : dump!)).toBe(sha256(DATA));
        // The manifest is the engine's, its file entry describing the bytes as stored (the container, if encrypted).
        expect(manifest).toEqual({ ...given, file: { name, bytes: dump!.length, sha256: sha256(dump!), encrypted: backend.encrypted } });
      }
    }));

  it("a chunk's memory is the writer's again once write() resolves: the stored bytes are those written", () =>
    inEnv(async (env) => {
      const name = 'reused.ndjson.gz';
      const sink = backend.make(env, name);
      await sink.open();
      // As the backup writes: each chunk in a buffer that is written over as soon as the sink has taken it.
      const buffer = Buffer.alloc(3 * MiB);
      for (const chunk of chunksOf(DATA)) {
        const view = buffer.subarray(0, chunk.length);
        chunk.copy(view);
        await sink.write(view);
        view.fill(0xee);
      }
      await sink.commit(manifestFor(sink, DATA));
      for (const d of backend.destinations(env)) {
        const { dump } = await d.read(name);
        expect(sha256(backend.encrypted ? await decrypt(dump!) : dump!)).toBe(sha256(DATA));
      }
    }));

  it('a dump whose name another run took meanwhile: commit fails and writes no manifest; the other bytes stay', () =>
    inEnv(async (env) => {
      const name = 'taken.ndjson.gz';
      const sink = backend.make(env, name);
      await sink.open();
      await writeAll(sink);
      const theirs = prngBytes(1000, 7);
      for (const d of backend.destinations(env)) await d.occupy(name, theirs);
      const e = await rejection(sink.commit(manifestFor(sink, DATA)));
      expect(e).toBeInstanceOf(BackupError);
      await sink.abort();
      for (const d of backend.destinations(env)) expect(await d.read(name)).toEqual({ dump: theirs, manifest: null });
    }));

  it('abort() leaves nothing: no dump, no manifest, no temporary file, no blob', () =>
    inEnv(async (env) => {
      const name = 'aborted.ndjson.gz';
      const sink = backend.make(env, name);
      await sink.open();
      await writeAll(sink);
      await sink.abort();
      await expectNothingLeft(env, backend);
    }));

  it('a failure of the backend while the dump is written surfaces as a SINK error; abort() then leaves nothing', async () => {
    const name = 'broken.ndjson.gz';
    // Two parts exactly: the last write sends part 2, and nothing is sent after it but what commit() sends.
    const data = prngBytes(2 * PART, 43);
    const failed = async (env: Env, wrap: (run: () => Promise<unknown>) => Promise<unknown> = (run) => run()) => {
      const sink = backend.make(env, name);
      await sink.open();
      const e = await rejection(
        wrap(async () => {
          await writeAll(sink, data);
          await sink.commit(manifestFor(sink, data));
        }),
      );
      await sink.abort();
      await expectNothingLeft(env, backend);
      return e;
    };
    const e =
      backend.breaks === 'disk'
        ? // The disk stops growing the file 4 kB before its end: the last write is cut short, then fails.
          await inEnv((env) => failed(env, (run) => withFileSizeLimit(data.length - 4096, run)))
        : // Part 2, sent by the last write, gets a 500 and no retry (client or sink): the upload cannot complete.
          await inEnv((env) => failed(env), { failPart: 2, blobRetries: 0 });
    expect(e, e.message).toBeInstanceOf(BackupError);
    expect(e.code, e.message).toBe('SINK');
  });
});
