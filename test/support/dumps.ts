/**
 * Helpers for tests that make, read and tamper with dumps: temp dirs, a tiny database, backups to files,
 * gunzipped NDJSON, and re-sealing an edited dump (recomputing its checksums) so a test can change one thing only.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { backup, type BackupOptions, type BackupResult } from '../../src/backup/backup.js';
import { rowLines, type DumpEvent } from '../../src/format/reader.js';
import { fileSink } from '../../src/sink/file.js';

/** A fresh temp dir; `cleanup()` removes every dir made so far (call it in afterAll). */
export function tempDirs(prefix = 'tb-test-') {
  const made: string[] = [];
  return {
    make(): string {
      const d = mkdtempSync(join(tmpdir(), prefix));
      made.push(d);
      return d;
    },
    cleanup() {
      for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Files in a directory, sorted (hidden ones included). */
export const listDir = (dir: string) => readdirSync(dir).sort();

/** A small database: two tables, a few rows, a REAL, a big integer, a blob and a NUL in text. */
export function buildTinyDb(path: string): void {
  const db = new Database(path);
  try {
    db.exec(`
      CREATE TABLE alpha (id INTEGER PRIMARY KEY, name TEXT, score REAL);
      CREATE TABLE "beta table" (k TEXT NOT NULL, v);
    `);
    const a = db.prepare('INSERT INTO alpha (id, name, score) VALUES (?, ?, ?)');
    a.run(1n, 'one', 1.5);
    a.run(2n, 'two\0nul', 1.0);
    a.run(3n, 'three 🎉', null);
    const b = db.prepare('INSERT INTO "beta table" (rowid, k, v) VALUES (?, ?, ?)');
    b.run(-1n, 'big', 9223372036854775807n);
    b.run(5n, 'blob', Buffer.from([0, 1, 2]));
  } finally {
    db.close();
  }
}

export async function backupToFile(dbPath: string, out: string, opts: Partial<BackupOptions> = {}): Promise<BackupResult> {
  return backup({ url: `file:${dbPath}`, ...opts }, fileSink(out));
}

export const gunzipFile = (path: string): Buffer => gunzipSync(readFileSync(path));

/** The NDJSON lines of a dump (without their newlines). */
export const dumpLines = (ndjson: Buffer | string): string[] => {
  const text = typeof ndjson === 'string' ? ndjson : ndjson.toString('utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
};

/**
 * Recomputes every checksum (table end lines and the trailer) of an edited dump, so that the edit is the only
 * thing wrong with it. Row counts in end lines and the trailer are recomputed too unless `keepCounts`; the header's
 * per-table counts only with `headerCounts` (a forged dump that is consistent throughout).
 */
export function reseal(lines: string[], opts: { keepCounts?: boolean; headerCounts?: boolean } = {}): Buffer {
  // Rows per table section, for the header's counts.
  const counted = new Map<string, number>();
  let open: string | null = null;
  for (const line of lines) {
    if (line.startsWith('[')) {
      if (open !== null) counted.set(open, (counted.get(open) ?? 0) + 1);
    } else {
      const o = JSON.parse(line) as { type: string; name: string };
      open = o.type === 'table' ? o.name : null;
      if (open !== null) counted.set(open, 0);
    }
  }
  const out: string[] = [];
  const whole = createHash('sha256');
  let section: { hash: ReturnType<typeof createHash>; rows: number } | null = null;
  let total = 0;
  let tables = 0;
  for (const line of lines) {
    let text = line;
    let trailer = false;
    if (line.startsWith('[')) {
      section!.hash.update(`${line}\n`);
      section!.rows++;
    } else {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o.type === 'header' && opts.headerCounts) {
        for (const t of o.tables as { name: string; rows: number }[]) if (counted.has(t.name)) t.rows = counted.get(t.name)!;
        text = JSON.stringify(o);
      } else if (o.type === 'table' || o.type === 'media') section = { hash: createHash('sha256'), rows: 0 };
      else if (o.type === 'end' || o.type === 'media-end') {
        o.sha256 = section!.hash.digest('hex');
        if (!opts.keepCounts) o.rows = section!.rows;
        if (o.type === 'end') {
          total += o.rows as number;
          tables++;
        }
        section = null;
        text = JSON.stringify(o);
      } else if (o.type === 'trailer') {
        trailer = true;
        o.sha256 = whole.digest('hex');
        if (!opts.keepCounts) {
          o.rows = total;
          o.tables = tables;
        }
        text = JSON.stringify(o);
      }
    }
    out.push(text);
    if (!trailer) whole.update(`${text}\n`);
  }
  return Buffer.from(`${out.join('\n')}\n`);
}

export const gzip = (b: Buffer | string) => gzipSync(b);

/** A stable, comparable record of a dump's events (row lines copied, since the reader reuses its buffers). */
export async function collectEvents(events: AsyncIterable<DumpEvent>): Promise<string[]> {
  const out: string[] = [];
  for await (const ev of events) {
    if (ev.kind === 'rows') for (const [s, e] of rowLines(ev.bytes)) out.push(`row ${ev.bytes.toString('utf8', s, e)}`);
    else if (ev.kind === 'header') out.push(`header ${ev.header.tables.map((t) => `${t.name}:${t.rows}`).join(',')}`);
    else if (ev.kind === 'table') out.push(`table ${ev.start.name} ${ev.start.columns.join(',')}`);
    else if (ev.kind === 'media') out.push(`media ${ev.start.table}`);
    else if (ev.kind === 'end') out.push(`end ${ev.end.name} ${ev.end.rows} ${ev.end.sha256}`);
    else if (ev.kind === 'media-end') out.push(`media-end ${ev.end.rows} ${ev.end.sha256}`);
    else out.push(`trailer ${ev.trailer.tables} ${ev.trailer.rows} ${ev.trailer.sha256}`);
  }
  return out;
}

/** Async chunks of `buf` cut at the given offsets. */
export async function* chunks(buf: Buffer, cuts: number[]): AsyncGenerator<Buffer> {
  let prev = 0;
  for (const c of [...cuts, buf.length]) {
    yield buf.subarray(prev, c);
    prev = c;
  }
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a rejection, the promise resolved');
}
