/**
 * Schemas written for old SQLite builds: double-quoted string literals ("DQS") in DEFAULT, CHECK, views and
 * triggers. Current builds refuse to CREATE such SQL; a restore must still reproduce the schema exactly.
 */
import Database from 'better-sqlite3';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backup } from '../src/backup/backup.js';
import { restore } from '../src/restore/restore.js';
import { knownIdentifiers, rewriteDoubleQuotedStrings } from '../src/restore/ddl.js';
import { fileSink } from '../src/sink/file.js';
import { localTargetFactory } from '../src/target/local.js';

const LEGACY_SQL: Record<string, string> = {
  Account: 'CREATE TABLE "Account" ("id" INTEGER PRIMARY KEY, "status" TEXT NOT NULL DEFAULT "active", "kind" TEXT CHECK ("kind" IN ("a", "b")))',
  ActiveAccounts: 'CREATE VIEW "ActiveAccounts" AS SELECT "id", "kind" FROM "Account" WHERE "status" = "active"',
  acc_trg: 'CREATE TRIGGER "acc_trg" AFTER INSERT ON "Account" BEGIN UPDATE "Account" SET "status" = "new" WHERE "id" = NEW."id" AND "kind" = "b"; END',
};

/** Builds a database whose stored schema holds DQS text, as an old SQLite would have written it. */
function buildLegacyDb(path: string, withRows = true) {
  const db = new Database(path);
  db.exec(`CREATE TABLE "Account" ("id" INTEGER PRIMARY KEY, "status" TEXT NOT NULL DEFAULT 'active', "kind" TEXT CHECK ("kind" IN ('a', 'b')));
    CREATE VIEW "ActiveAccounts" AS SELECT "id", "kind" FROM "Account" WHERE "status" = 'active';
    CREATE TRIGGER "acc_trg" AFTER INSERT ON "Account" BEGIN UPDATE "Account" SET "status" = 'new' WHERE "id" = NEW."id" AND "kind" = 'b'; END;`);
  if (withRows) db.exec(`INSERT INTO "Account" ("id", "kind") VALUES (1, 'a'), (2, 'b'); UPDATE "Account" SET "status" = 'closed' WHERE "id" = 2;`);
  db.unsafeMode(true);
  db.pragma('writable_schema = ON');
  for (const [name, sql] of Object.entries(LEGACY_SQL)) db.prepare('UPDATE sqlite_schema SET sql = ? WHERE name = ?').run(sql, name);
  db.pragma('writable_schema = OFF');
  db.close();
}

const schemaOf = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all();
  } finally {
    db.close();
  }
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dqs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('schemas with double-quoted string literals', () => {
  it('rewrites only the tokens that name nothing', () => {
    const known = knownIdentifiers(['Account', 'id', 'status', 'kind']);
    expect(rewriteDoubleQuotedStrings(LEGACY_SQL.Account!, known)).toBe(
      `CREATE TABLE "Account" ("id" INTEGER PRIMARY KEY, "status" TEXT NOT NULL DEFAULT 'active', "kind" TEXT CHECK ("kind" IN ('a', 'b')))`,
    );
    expect(rewriteDoubleQuotedStrings(`SELECT "it's", 'x"y' -- "c"\n FROM "Account"`, known)).toBe(`SELECT 'it''s', 'x"y' -- "c"\n FROM "Account"`);
  });

  it('restore into an empty database reproduces the schema text, the data and the behaviour', async () => {
    const src = join(dir, 'src.db');
    buildLegacyDb(src);
    const dump = join(dir, 'd.ndjson.gz');
    await backup({ url: `file:${src}` }, fileSink(dump));
    const dst = join(dir, 'dst.db');
    const r = await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(dst), confirm: true });
    expect(r.verified).toBe(true);
    expect(schemaOf(dst)).toEqual(schemaOf(src));
    const db = new Database(dst);
    try {
      expect(db.prepare('SELECT id, status, kind FROM "Account" ORDER BY id').raw().all()).toEqual([
        [1, 'active', 'a'],
        [2, 'closed', 'b'],
      ]);
    } finally {
      db.close();
    }
  });

  it('a migrated target whose own trigger uses them gets it back after the load', async () => {
    const src = join(dir, 'src.db');
    buildLegacyDb(src);
    const dump = join(dir, 'd.ndjson.gz');
    await backup({ url: `file:${src}` }, fileSink(dump));
    const dst = join(dir, 'migrated.db');
    buildLegacyDb(dst, false);
    const r = await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(dst), confirm: true });
    expect(r.path).toBe('migrated');
    expect(existsSync(dst)).toBe(true);
    expect(schemaOf(dst)).toEqual(schemaOf(src));
    const db = new Database(dst, { readonly: true });
    try {
      // The trigger did not fire during the load (row 2 keeps "closed").
      expect(db.prepare('SELECT status FROM "Account" ORDER BY id').pluck().all()).toEqual(['active', 'closed']);
    } finally {
      db.close();
    }
  });
});
