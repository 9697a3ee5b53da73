/**
 * Shared by the Blob and cron tests: a stand-in store per test (the real @vercel/blob client pointed at it through
 * the environment), databases with incompressible data, and running the CLI scripts as the operator would.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';
import { applyBlobEnv, withBlobEnv } from '../support/blob-env.js';
import { startBlobServer, type BlobServer, type BlobServerOptions } from '../support/blob-server.js';
import { prngBytes } from '../support/nasty-db.js';

export const TOKEN = 'vercel_blob_rw_teststore_s3cr3tValue42';
export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
export const MiB = 1024 * 1024;

/** A fresh stand-in store for each test, with the client's env pointing at it (restored after the test). */
export function useBlobStore(tmp: () => string, opts: Partial<BlobServerOptions> = {}): () => BlobServer {
  let server: BlobServer;
  let restoreEnv: () => void;
  beforeEach(async () => {
    server = await startBlobServer({ dir: mkdtempSync(join(tmp(), 'store-')), token: TOKEN, ...opts });
    restoreEnv = applyBlobEnv(server);
  });
  afterEach(async () => {
    restoreEnv();
    await server.close();
  });
  return () => server;
}

/**
 * A database of `mib` MiB of incompressible blobs (1 MiB per row, deterministic) plus a small table, so a dump
 * spans several 8 MiB parts.
 */
export function buildBlobDb(path: string, mib: number, seed = 1): void {
  const db = new Database(path);
  try {
    db.exec('CREATE TABLE files (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB); CREATE TABLE notes (k TEXT PRIMARY KEY, v REAL) WITHOUT ROWID');
    const ins = db.prepare('INSERT INTO files (id, name, data) VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= mib; i++) ins.run(BigInt(i), `file-${i}.bin`, prngBytes(MiB, seed * 1000 + i));
      db.prepare('INSERT INTO notes VALUES (?, ?)').run('pi', Math.PI);
    })();
  } finally {
    db.close();
  }
}

/** A small database of `rows` rows. */
export function buildSmallDb(path: string, rows = 50): void {
  const db = new Database(path);
  try {
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, score REAL, avatar BLOB)');
    const ins = db.prepare('INSERT INTO users (id, email, score, avatar) VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= rows; i++) ins.run(BigInt(i), `u${i}@example.com`, i / 3, prngBytes(64, i));
    })();
  } finally {
    db.close();
  }
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The env a CLI child needs to reach the stand-in (OIDC variables removed). */
export const blobEnv = (server: BlobServer) => withBlobEnv(server) as Record<string, string | undefined>;

export { lastJson, runScript, type ScriptRun } from '../support/scripts.js';
