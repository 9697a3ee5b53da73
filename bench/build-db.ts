/**
 * Builds the benchmark database: a user table, a JSON-payload event log and media rows with small blobs,
 * ~1M rows and ~300 MB at scale 1. Deterministic (seeded), so runs are comparable.
 */
import Database from 'libsql';
import { existsSync, renameSync, rmSync } from 'node:fs';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const WORDS =
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu'.split(
    ' ',
  );

export function buildBenchDb(path: string, scale = 1): void {
  if (existsSync(path)) return;
  const tmp = `${path}.building`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
    CREATE TABLE "User" ("id" TEXT NOT NULL PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT, "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, "score" REAL NOT NULL DEFAULT 0);
    CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
    CREATE TABLE "Event" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "userId" TEXT NOT NULL, "type" TEXT NOT NULL, "payload" TEXT NOT NULL, "createdAt" DATETIME NOT NULL, CONSTRAINT "Event_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE CASCADE);
    CREATE INDEX "Event_userId_idx" ON "Event"("userId");
    CREATE TABLE "MediaAsset" ("id" TEXT NOT NULL PRIMARY KEY, "url" TEXT NOT NULL, "blobPathname" TEXT NOT NULL, "contentType" TEXT NOT NULL, "size" INTEGER NOT NULL, "thumb" BLOB, "createdAt" DATETIME NOT NULL);`);
  const r = rng(42 * scale);
  const word = () => WORDS[Math.floor(r() * WORDS.length)];
  const users = 100_000 * scale;
  const events = 850_000 * scale;
  const media = 50_000 * scale;
  const insUser = db.prepare('INSERT INTO "User" VALUES (?,?,?,?,?)');
  const insEvent = db.prepare('INSERT INTO "Event" ("userId","type","payload","createdAt") VALUES (?,?,?,?)');
  const insMedia = db.prepare('INSERT INTO "MediaAsset" VALUES (?,?,?,?,?,?,?)');
  const date = (i: number) => new Date(Date.UTC(2024, 0, 1) + i * 7919).toISOString();
  db.exec('BEGIN');
  for (let i = 0; i < users; i++) {
    insUser.run([`u_${i.toString(36).padStart(8, '0')}`, `${word()}.${word()}${i}@example.com`, `${word()} ${word()}`, date(i), Math.round(r() * 1e6) / 100]);
  }
  for (let i = 0; i < events; i++) {
    const payload = JSON.stringify({
      path: `/${word()}/${word()}/${Math.floor(r() * 1e5)}`,
      ua: `Mozilla/5.0 (${word()}; ${word()})`,
      ms: Math.floor(r() * 5000),
      tags: [word(), word(), word()],
      ref: r() < 0.3 ? null : `https://${word()}.example.org/${word()}`,
    });
    insEvent.run([
      `u_${Math.floor(r() * users)
        .toString(36)
        .padStart(8, '0')}`,
      word(),
      payload,
      date(i),
    ]);
  }
  for (let i = 0; i < media; i++) {
    const id = `m_${i.toString(36).padStart(8, '0')}`;
    const thumb = Buffer.alloc(512 + Math.floor(r() * 1024));
    for (let j = 0; j < thumb.length; j += 4) thumb.writeUInt32LE(Math.floor(r() * 2 ** 32), j - (j + 4 > thumb.length ? j + 4 - thumb.length : 0));
    insMedia.run([
      id,
      `https://store.public.blob.vercel-storage.com/media/${id}.jpg`,
      `media/${id}.jpg`,
      'image/jpeg',
      BigInt(10_000 + Math.floor(r() * 1e6)),
      thumb,
      date(i),
    ]);
  }
  db.exec('COMMIT');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;');
  db.close();
  renameSync(tmp, path);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = process.argv[2] ?? 'bench/data/bench-1x.db';
  const scale = Number(process.argv[3] ?? 1);
  const t = Date.now();
  buildBenchDb(path, scale);
  console.log(`built ${path} in ${Date.now() - t} ms`);
}
