#!/usr/bin/env -S npx tsx
/**
 * `npm run demo`: builds a small Prisma-shaped database under backups/demo/ (migrations from
 * fixtures/prisma/migrations, users, posts, tags, media rows), backs it up, verifies the dump, restores it into a
 * freshly migrated database and compares the two table by table.
 */
import Database from 'better-sqlite3';
import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { backup } from '../src/backup/backup.js';
import { runCommand } from '../src/cli/run.js';
import { backupFileName } from '../src/api/backup.js';
import { deployMigrations } from '../src/migrate/index.js';
import { restore } from '../src/restore/restore.js';
import { fileSink } from '../src/sink/file.js';
import { localTargetFactory } from '../src/target/local.js';
import { verify } from '../src/verify.js';

const dir = resolve('backups/demo');
const migrationsDir = resolve('fixtures/prisma/migrations');

async function migrate(path: string) {
  return (await deployMigrations({ url: `file:${path}`, dir: migrationsDir, confirm: true })).applied.length;
}

function seed(path: string) {
  const db = new Database(path);
  const names = ['Ada Lovelace', 'Grace Hopper', 'Edsger Dijkstra', 'Zoë Ångström', '李小龍', "Søren “quotes” O'Brien"];
  db.transaction(() => {
    const user = db.prepare('INSERT INTO "User" ("email", "name", "roleId") VALUES (?, ?, ?)');
    names.forEach((n, i) => void user.run(`user${i}@example.com`, n, i === 0 ? 'owner' : 'user'));
    const post = db.prepare('INSERT INTO "Post" ("title", "body", "published", "authorId") VALUES (?, ?, ?, ?)');
    for (let i = 0; i < 40; i++)
      post.run(
        `Post ${i}`,
        i % 7 === 0 ? null : `Body of post ${i}\nwith a second line\u2028and U+2028`,
        i % 2 === 0 ? 1n : 0n,
        BigInt((i % names.length) + 1),
      );
    const tag = db.prepare('INSERT INTO "Tag" ("id", "name") VALUES (?, ?)');
    ['news', 'howto', 'release'].forEach((t) => void tag.run(`tag_${t}`, t));
    const link = db.prepare('INSERT INTO "_PostToTag" ("A", "B") VALUES (?, ?)');
    for (let i = 1; i <= 40; i += 3) link.run(BigInt(i), i % 2 ? 'tag_news' : 'tag_howto');
    const media = db.prepare('INSERT INTO "MediaAsset" ("id", "url", "blobPathname", "contentType", "size", "postId") VALUES (?, ?, ?, ?, ?, ?)');
    for (let i = 0; i < 12; i++) {
      const p = `media/post-${i}/image-${i}.jpg`;
      media.run(`m${i}`, `https://demo-store.public.blob.vercel-storage.com/${p}`, p, 'image/jpeg', BigInt(10_000 + i * 977), i < 10 ? BigInt(i + 1) : null);
    }
  })();
  db.close();
}

function tableRows(path: string): Map<string, string[]> {
  const db = new Database(path, { readonly: true });
  const out = new Map<string, string[]>();
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
  for (const t of [...tables, 'sqlite_sequence']) {
    const cols = (db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(t) as string[]).map((c) => `typeof("${c}") || ':' || hex("${c}")`);
    out.set(
      t,
      db
        .prepare(`SELECT rowid || '|' || ${cols.join(" || '|' || ")} FROM "${t}" ORDER BY rowid`)
        .pluck()
        .all() as string[],
    );
  }
  db.close();
  return out;
}

runCommand('demo', async () => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const source = join(dir, 'source.db');
  const restored = join(dir, 'restored.db');
  const dump = join(dir, backupFileName());

  const applied = await migrate(source);
  seed(source);
  console.log(`1. built ${source}: ${applied} Prisma migrations from fixtures/prisma/migrations, then users, posts, tags, media`);

  const b = await backup({ url: `file:${source}` }, fileSink(dump));
  console.log(`2. backed it up to ${dump} (${b.bytes} bytes, sha256 ${b.sha256!.slice(0, 16)}…)`);
  for (const [t, n] of Object.entries(b.tables)) console.log(`     ${t.padEnd(20)} ${n} rows`);

  const v = await verify(createReadStream(dump));
  console.log(
    `3. verified the dump without any database: ${Object.keys(v.tables).length} tables, ${v.trailer.rows} rows, ${v.media?.rows ?? 0} media inventory rows, trailer checksum ok`,
  );

  await migrate(restored);
  console.log(`4. created ${restored} and applied the same migrations (it now holds the seeded Role rows)`);
  const r = await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(restored), confirm: true });
  console.log(`5. restored the dump into it (${r.path} target, verified on the target: ${r.verified})`);

  const a = tableRows(source);
  const c = tableRows(restored);
  let same = true;
  for (const [t, rows] of a) {
    const other = c.get(t) ?? [];
    const ok = t === '_prisma_migrations' ? other.length === rows.length : JSON.stringify(rows) === JSON.stringify(other);
    if (!ok) same = false;
    console.log(
      `     ${t.padEnd(20)} source ${String(rows.length).padStart(3)} rows, restored ${String(other.length).padStart(3)} rows  ${ok ? 'identical' : 'DIFFERENT'}${t === '_prisma_migrations' ? ' (the target keeps its own migration history)' : ''}`,
    );
  }
  console.log(same ? '6. the restored database equals the source, cell by cell (storage classes and rowids included)' : '6. DIFFERENCES found');
  return same ? 0 : 1;
});
