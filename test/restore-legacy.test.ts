/** Legacy single-document JSON backups (the old in-app shape) restored into a migrated database. */
import Database from 'better-sqlite3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { deployMigrations } from '../src/migrate/index.js';
import { tempDirs } from './support/dumps.js';
import { lastJson, runScript } from './support/scripts.js';

const FIXTURES = new URL('../fixtures/prisma/migrations', import.meta.url).pathname;
const dirs = tempDirs('tb-legacy-');
afterAll(() => dirs.cleanup());

const ROLES = [
  { id: 'owner', label: 'Owner' },
  { id: 'admin', label: 'Administrator' },
  { id: 'user', label: 'User' },
];

/** Written by hand as text: the digits of 9007199254740993 and the `1.0` must reach the parser as written. */
const LEGACY = `{
  "createdAt": "2024-05-01T00:00:00.000Z",
  "tables": {
    "Role": ${JSON.stringify(ROLES)},
    "User": [
      {"id": 1, "email": "ada@example.com", "name": "Ada", "roleId": "owner", "createdAt": "2024-01-01T00:00:00.000Z"},
      {"id": 2, "email": "grace@example.com", "name": null, "roleId": "user", "createdAt": "2024-01-02T00:00:00.000Z"}
    ],
    "Post": [
      {"id": 9007199254740993, "title": "big id", "body": {"blocks": [1, 2.50, {"x": null}], "ok": true}, "published": true, "authorId": 1, "createdAt": "2024-01-03T00:00:00.000Z"},
      {"id": 7, "title": "real", "body": "1.0 stays text", "published": false, "authorId": 2, "createdAt": "2024-01-04T00:00:00.000Z"}
    ],
    "Tag": [{"id": "t1", "name": "news"}]
  },
  "mediaAssetInventory": [{"id": "m1", "url": "https://x.public.blob.vercel-storage.com/a.jpg"}]
}`;

let dir: string;
let target: string;
let source: string;

async function migrated(path: string) {
  await deployMigrations({ url: `file:${path}`, dir: FIXTURES, confirm: true });
}

const restore = (...args: string[]) =>
  runScript('restore-turso', [source, ...args], { TURSO_DATABASE_URL: `file:${target}`, TURSO_AUTH_TOKEN: undefined, DEBUG: undefined });

const query = (sql: string) => {
  const db = new Database(target, { readonly: true });
  try {
    return db.prepare(sql).raw().safeIntegers(true).all();
  } finally {
    db.close();
  }
};

beforeEach(async () => {
  dir = dirs.make();
  target = join(dir, 'target.db');
  source = join(dir, 'backup.json');
  writeFileSync(source, LEGACY);
});

describe('legacy JSON restore', () => {
  it('into a freshly migrated database: seeded roles accepted, values by their JSON text, triggers silent', async () => {
    await migrated(target);
    const before = readFileSync(target);
    const dry = await restore('--json');
    expect(dry.code).toBe(0);
    expect(lastJson(dry.stdout)).toMatchObject({ mode: 'dry-run', source: 'legacy-json' });
    expect(readFileSync(target).equals(before)).toBe(true);

    const r = await restore('--confirm', '--json');
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ mode: 'restore', verified: true, tables: { Role: 3, User: 2, Post: 2, Tag: 1 } });
    expect(r.stderr + r.stdout).toMatch(/cannot be carried by JSON/);
    expect(query('SELECT id, typeof(id), published, typeof(published), body FROM "Post" ORDER BY id')).toEqual([
      [7n, 'integer', 0n, 'integer', '1.0 stays text'],
      [9007199254740993n, 'integer', 1n, 'integer', '{"blocks":[1,2.50,{"x":null}],"ok":true}'],
    ]);
    expect(query('SELECT id, label FROM "Role" ORDER BY id')).toEqual([
      ['admin', 'Administrator'],
      ['owner', 'Owner'],
      ['user', 'User'],
    ]);
    expect(query('SELECT count(*) FROM "AuditLog"')).toEqual([[0n]]);
    expect(query("SELECT name FROM sqlite_schema WHERE type = 'trigger'")).toEqual([['Post_audit_insert']]);
  });

  it('refuses a target whose rows the backup does not hold, unless --clean', async () => {
    await migrated(target);
    const db = new Database(target);
    db.prepare('INSERT INTO "Tag" ("id", "name") VALUES (?, ?)').run('other', 'local data');
    db.close();
    const before = readFileSync(target);
    const r = await restore('--confirm');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/table "Tag" has 1 rows that the backup does not/);
    expect(readFileSync(target).equals(before)).toBe(true);
    const clean = await restore('--confirm', '--clean');
    expect(clean.code).toBe(0);
    expect(query('SELECT id FROM "Tag"')).toEqual([['t1']]);
  });

  it('refuses an empty database (no schema to load into) and a column the target lacks, writing nothing', async () => {
    const empty = await restore('--confirm');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/carries no schema/);
    expect(existsSync(target)).toBe(false);

    await migrated(target);
    writeFileSync(source, LEGACY.replace('"name": "news"', '"name": "news", "color": "red"'));
    const before = readFileSync(target);
    const r = await restore('--confirm');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/table "Tag": the backup's column "color" has no place in the target/);
    expect(readFileSync(target).equals(before)).toBe(true);

    // Something after the backup's closing brace (sweep 4: 'unexpected error'): refused as not a valid backup.
    writeFileSync(source, `${LEGACY}\n{"x": 1}\n`);
    const trailing = await restore('--confirm');
    expect(trailing.code).toBe(1);
    expect(trailing.stderr).toMatch(/error: not a valid JSON backup: /);
    expect(readFileSync(target).equals(before)).toBe(true);
    // Text that is not JSON inside a row: the same (it failed the parser before the first token was read).
    writeFileSync(source, LEGACY.replace('"name": "news"', '"name": news'));
    const garbled = await restore('--confirm');
    expect(garbled.stderr).toMatch(/error: not a valid JSON backup: /);
    expect(readFileSync(target).equals(before)).toBe(true);
    // A key twice in one row: a JSON parser keeps the last, silently; which one was meant cannot be known.
    writeFileSync(source, LEGACY.replace('"name": "news"', '"name": "news", "name": "olds"'));
    const twice = await restore('--confirm');
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/error: table "Tag": a row names column "name" twice/);
    expect(readFileSync(target).equals(before)).toBe(true);
  });
});
