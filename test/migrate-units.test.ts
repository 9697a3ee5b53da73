/**
 * The pieces of the migration runner on their own: statement cutting, Prisma's checksum rules, the lock file,
 * the status rules, and the double-quoted-string replay on a real better-sqlite3 connection.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openMigrationDb, readMigrationsDir, type MigrationDb } from '../src/migrate/index.js';
import { checksumMatches, scriptChecksum } from '../src/migrate/checksum.js';
import { parseDqsError, resolveDqs } from '../src/migrate/dqs.js';
import { DqsReplay } from '../src/migrate/dqs-replay.js';
import { lockProvider } from '../src/migrate/files.js';
import type { MigrationRecord } from '../src/migrate/history.js';
import { splitStatements } from '../src/sql-text.js';
import { diagnose } from '../src/migrate/status.js';
import { tempDirs } from './support/dumps.js';
import { CORPUS, corpusShapes } from './support/migration-corpus.js';

const dirs = tempDirs('tb-migrate-units-');
afterAll(() => dirs.cleanup());

const texts = (sql: string) => splitStatements(sql).map((s) => s.text);

describe('statements, cut where SQLite cuts them', () => {
  it('keeps ; inside comments, strings and quoted names', () => {
    const sql = 'SELECT 1; -- a; b\n/* c; \' " */ SELECT \'x;y\'\n;SELECT "a;b", `c;d`, [e;f];';
    expect(texts(sql)).toEqual(['SELECT 1;', "SELECT 'x;y'\n;", 'SELECT "a;b", `c;d`, [e;f];']);
    expect(splitStatements(sql).map((s) => s.line)).toEqual([1, 2, 3]);
  });

  it('keeps a trigger body whole, CASE … END inside it included', () => {
    const trigger = 'CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = CASE WHEN new.x THEN 1 END;\n  INSERT INTO b VALUES (1);\nEND;';
    expect(texts(`${trigger}\nSELECT 2;`)).toEqual([trigger, 'SELECT 2;']);
    const temp = "create temp trigger if not exists u before delete on a begin select raise(abort, 'no; never'); end;";
    expect(texts(`${temp} SELECT 3`)).toEqual([temp, 'SELECT 3']);
    // Only CREATE [TEMP] TRIGGER opens a body: a table named "trigger" or trigger_log does not.
    expect(texts('CREATE TABLE "trigger" (a); CREATE TABLE trigger_log (b); SELECT 4;')).toHaveLength(3);
  });

  it('takes a byte-order mark where a token starts as a space, as SQLite does: a trigger after one stays whole', () => {
    const trigger = 'CREATE TRIGGER touch AFTER UPDATE OF "n" ON "Item"\nBEGIN\n  UPDATE "Item" SET "at" = 1 WHERE "id" = NEW."id";\nEND;';
    const script = `\uFEFF${trigger}\n\uFEFF${trigger.replace('touch', 'touch2')}\nSELECT 1;`;
    const pieces = texts(script);
    expect(pieces).toEqual([trigger, trigger.replace('touch', 'touch2'), 'SELECT 1;']);
    const db = new Database(':memory:');
    db.exec('CREATE TABLE "Item" ("id" INTEGER PRIMARY KEY, "n" INTEGER, "at" INTEGER)');
    for (const p of pieces) db.exec(p);
    expect(db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'").pluck().get()).toBe(2);
    db.close();
    // Inside a name it is a character of the name (SQLite's IdChar), not a space.
    expect(texts('SELECT a\uFEFFb; SELECT 2;')).toEqual(['SELECT a\uFEFFb;', 'SELECT 2;']);
  });

  it('counts lines through CRLF and keeps a last statement without ; or newline', () => {
    const sql = '-- x\r\nCREATE TABLE a (x);\r\n\r\nINSERT INTO a VALUES (1)';
    expect(splitStatements(sql)).toEqual([
      { text: 'CREATE TABLE a (x);', line: 2, offset: 6 },
      { text: 'INSERT INTO a VALUES (1)', line: 4, offset: 29 },
    ]);
  });

  it('gives nothing for an empty script, comments only, or lone semicolons', () => {
    expect(texts('')).toEqual([]);
    expect(texts('-- only a comment; really\n/* and ; this */\n')).toEqual([]);
    expect(texts(' ;; ;\n')).toEqual([]);
  });

  it('cuts every corpus migration into pieces SQLite prepares as exactly one statement each', () => {
    const db = new Database(':memory:');
    let count = 0;
    for (const shape of corpusShapes()) {
      for (const m of readMigrationsDir(join(CORPUS, shape)).migrations) {
        for (const s of splitStatements(m.script!)) {
          count++;
          try {
            db.prepare(s.text);
          } catch (e) {
            // Missing tables are expected here (nothing runs); a cut in the wrong place is not.
            expect((e as Error).message).not.toMatch(/more than one statement|contains no statements|incomplete input/);
          }
        }
      }
    }
    db.close();
    expect(count).toBeGreaterThan(100);
  });
});

describe("Prisma's checksum rules (schema-connector/src/checksum.rs)", () => {
  const sha = (s: string) => createHash('sha256').update(s).digest();

  it('records SHA-256 of the script as 64 hex digits', () => {
    expect(scriptChecksum('hello')).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  });

  it('accepts the file with its line endings switched, either way (a lone CR stays)', () => {
    for (const group of [
      ['ab\ncd\nef\ngh\rab', 'ab\r\ncd\r\nef\r\ngh\rab'],
      ['ab\ncd\nef\ngh\rab\n', 'ab\r\ncd\r\nef\r\ngh\rab\r\n'],
    ]) {
      for (const a of group) for (const b of group) expect(checksumMatches(a, scriptChecksum(b))).toBe(true);
    }
  });

  it('refuses any other change', () => {
    expect(checksumMatches('abc', scriptChecksum('abcd'))).toBe(false);
    expect(checksumMatches('abc\n', scriptChecksum('abc'))).toBe(false);
    expect(checksumMatches('SELECT 1;\n', scriptChecksum('SELECT 1; \n'))).toBe(false);
    expect(checksumMatches('SELECT 1;\n', '')).toBe(false);
  });

  it('reads the unpadded hex an old schema engine wrote (prisma-engines#1887)', () => {
    // A script whose digest has a byte below 0x10, so the two formats differ.
    let script = 'x';
    while (!sha(script).some((b) => b < 0x10)) script += 'x';
    const old = Array.from(sha(script), (b) => b.toString(16)).join('');
    expect(old.length).toBeLessThan(64);
    expect(checksumMatches(script, old)).toBe(true);
    expect(checksumMatches(script.replaceAll('\n', '\r\n'), old)).toBe(true);
    expect(checksumMatches(`${script}y`, old)).toBe(false);
  });
});

describe('migration_lock.toml, as Prisma reads it', () => {
  it('takes the first provider line', () => {
    expect(lockProvider('# comment\nprovider = "sqlite"\n')).toBe('sqlite');
    expect(lockProvider('provider = "postgresql"\r\nprovider = "sqlite"')).toBe('postgresql');
    expect(lockProvider('# nothing here\n')).toBe('<PROVIDER NOT FOUND>');
    // A byte order mark (Node's readFile keeps it, as Prisma's listMigrations reads the file): no line starts with it.
    expect(lockProvider('\uFEFFprovider = "sqlite"\r\n')).toBe('<PROVIDER NOT FOUND>');
  });
});

describe('status rules', () => {
  const dir = {
    dir: '/m',
    provider: 'sqlite',
    migrations: [
      { name: '1_a', script: 'A', checksum: scriptChecksum('A') },
      { name: '2_b', script: 'B\n', checksum: scriptChecksum('B\n') },
      { name: '3_c', script: 'C', checksum: scriptChecksum('C') },
      { name: '4_d', script: null, checksum: '' },
    ],
  };
  const rec = (name: string, script: string, finished: boolean, rolledBack = false): MigrationRecord => ({
    id: name + String(finished) + String(rolledBack),
    name,
    checksum: scriptChecksum(script),
    startedAt: 1n,
    finishedAt: finished ? 2n : null,
    rolledBackAt: rolledBack ? 3n : null,
    logs: finished ? null : 'A migration failed to apply.\n\nDatabase error:\nno such table: x\n\n',
    appliedStepsCount: finished ? 1n : 0n,
  });

  it('sorts migrations into applied, pending, failed, changed and unknown', () => {
    const s = diagnose(dir, [
      rec('1_a', 'A', true),
      rec('2_b', 'B\r\n', true),
      rec('3_c', 'old', false, true),
      rec('3_c', 'C', false),
      rec('0_gone', 'Z', true),
    ]);
    expect(s.applied).toEqual(['1_a', '2_b']);
    expect(s.pending).toEqual(['4_d']);
    expect(s.missingScript).toEqual(['4_d']);
    expect(s.failed).toEqual([{ name: '3_c', startedAt: '1970-01-01T00:00:00.001Z', error: 'no such table: x' }]);
    expect(s.changed).toEqual([]);
    expect(s.notInDirectory).toEqual(['0_gone']);
  });

  it("names the database's error whatever engine wrote the logs, never a line of the engine's backtrace", () => {
    const failedWith = (logs: string) => diagnose(dir, [{ ...rec('3_c', 'C', false), logs }]).failed[0]?.error;
    // Prisma with a driver adapter (@prisma/adapter-libsql: the error first, then the engine's span trace)
    expect(
      failedWith(
        'SQLITE_ERROR: near ",": syntax error\n   0: sql_schema_connector::apply_migration::apply_script\n           with migration_name="3_c"\n' +
          '             at schema-engine/connectors/sql-schema-connector/src/apply_migration.rs:113\n   2: schema_engine_wasm::wasm::engine::ApplyMigrations\n' +
          '             at schema-engine/schema-engine-wasm/src/wasm/engine.rs:167',
      ),
    ).toBe('SQLITE_ERROR: near ",": syntax error');
    // the native engine: the header, the name and the code, then "Database error:" and the error, then the trace
    expect(
      failedWith(
        'A migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more: https://pris.ly/d/migrate-resolve\n\n' +
          'Migration name: 3_c\n\nDatabase error code: 1\n\nDatabase error:\nnear ",": syntax error\n\nPlease check the query number 1 from the migration file.\n\n' +
          '   0: sql_schema_connector::apply_migration::apply_script\n           with migration_name="3_c"\n             at schema-engine/x.rs:106\n',
      ),
    ).toBe('near ",": syntax error');
    // a header without the database's part (an error outside the database): the line after the header and the name
    expect(failedWith('A migration failed to apply. New migrations cannot be applied.\n\nMigration name: 3_c\n\nthe connection was closed\n')).toBe(
      'the connection was closed',
    );
    expect(failedWith('   0: only::a::trace\n             at x.rs:1')).toBe(null);
    expect(failedWith('')).toBe(null);
  });

  it('a rolled-back migration is pending again; a changed applied one is reported', () => {
    const s = diagnose(dir, [rec('1_a', 'A edited', true), rec('3_c', 'C', false, true)]);
    expect(s.changed).toEqual(['1_a']);
    expect(s.pending).toEqual(['2_b', '3_c', '4_d']);
    expect(diagnose(dir, null).hasMigrationsTable).toBe(false);
  });

  it('a rolled-back row whose folder is gone is not "recorded but not in the directory"; a finished one is', () => {
    const s = diagnose(dir, [rec('0_failed_then_deleted', 'X', false, true), rec('0_gone', 'Z', true), rec('0_undone', 'Y', true, true)]);
    expect(s.notInDirectory).toEqual(['0_gone']);
  });
});

describe('double-quoted string literals, decided by SQLite', () => {
  let db: MigrationDb;
  const open = async () => {
    db = (await openMigrationDb(`file:${join(dirs.make(), 'dqs.db')}`, undefined, { create: true, readonly: false }))!;
    const e = db.local!;
    e.execNow('CREATE TABLE s ("name" TEXT, "kind" TEXT, "global" TEXT)');
    e.execNow('CREATE TABLE t ("name" TEXT, "kind" TEXT, "global" TEXT)');
    return e;
  };
  afterAll(async () => db?.close());

  it('reads the refusal of each SQLite version', () => {
    expect(parseDqsError('no such column: "a b" - should this be a string literal in single-quotes?')).toEqual({ token: 'a b' });
    expect(parseDqsError('error in view v after rename: no such column: "x" - should this be a string literal in single-quotes?')).toEqual({
      token: 'x',
      object: { type: 'view', name: 'v' },
    });
    expect(parseDqsError('no such column: x')).toBeNull();
  });

  it('rewrites only the occurrences SQLite cannot resolve', async () => {
    const e = await open();
    const check = (sql: string) => e.compile(sql);
    const r = resolveDqs('INSERT INTO t ("name", "kind") SELECT "name", "promo" FROM s WHERE "kind" = "kind" AND "name" <> "none"', check);
    expect(r.text).toBe(`INSERT INTO t ("name", "kind") SELECT "name", 'promo' FROM s WHERE "kind" = "kind" AND "name" <> 'none'`);
    expect(r.error).toBeNull();
    // The same word as a column name (the INSERT list) and as a value (VALUES has no columns in scope).
    expect(resolveDqs('INSERT INTO t ("global") VALUES ("global")', check).text).toBe(`INSERT INTO t ("global") VALUES ('global')`);
    // A real mistake stays a mistake.
    expect(resolveDqs('SELECT "name" FROM missing_table', check).error).toMatch(/no such table/);
  });

  it('runs a statement as a DQS SQLite would, and gives a stored object its original text back at the end', async () => {
    const e = await open();
    const replay = new DqsReplay(e);
    const create = 'CREATE TABLE k ("v" TEXT CHECK ("v" IN ("a", "b")), "w" TEXT DEFAULT "z")';
    replay.run(create);
    replay.run('INSERT INTO k ("v") VALUES ("a")');
    expect(() => replay.run('INSERT INTO k ("v") VALUES ("c")')).toThrow(/CHECK constraint failed/);
    replay.run('ALTER TABLE k RENAME TO k2');
    expect(replay.finish()).toEqual([]);
    expect(e.rows("SELECT sql FROM sqlite_schema WHERE name = 'k2'")[0]![0]).toBe(create.replace('TABLE k ', 'TABLE "k2" '));
    expect(e.rows('SELECT v, w FROM k2')).toEqual([['a', 'z']]);
  });
});
