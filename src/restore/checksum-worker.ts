/**
 * Worker thread: re-checksums a scratch target's tables while the main thread is still loading them (see
 * load-verifier.ts). Reads through its own read-only connection, table by table in load order, following each
 * table's commits; posts one result per table, or one error and stops. It is started before it has anything to
 * read (startVerifierThread) and waits for its StartMessage.
 */
import { parentPort } from 'node:worker_threads';
import { type LocalDb, openLocalDb } from '../db/local.js';
import { type Growing, unlocked } from '../db/pages.js';
import type { TableInfo } from '../format/lines.js';
import { checksumRows, foreignKeyViolations } from './verify-target.js';

export interface VerifierData {
  path: string;
  /** `largestRow`: the length of the table's longest row line in the dump, when it is long (restore.ts Verified). */
  tables: { info: TableInfo; rowidName: string | null; largestRow?: number }[];
  /** How long the file may stay locked against the reader, with no commit in between, before it gives up. */
  lockedMs?: number;
}

/** Main → worker, first: what to verify. */
export interface StartMessage {
  start: VerifierData;
}

/** Main → worker: the writer committed (commit number `gen`); `complete` names a table it finished, `all`: every table. */
export interface CommitMessage {
  gen: number;
  complete?: string;
  all?: boolean;
}

export type VerifierReply =
  | { table: string; rows: number; sha256: string }
  /** `null`: the check could not run before the schema's indexes exist (the main thread runs it after them). */
  | { foreignKeys: Record<string, number> | null }
  | { error: string; code?: string };

const port = parentPort!;
let started: (data: VerifierData) => void;
const start = new Promise<VerifierData>((resolve) => (started = resolve));
const complete = new Set<string>();
let all = false;
let gen = 0;
const waiting: (() => void)[] = [];
port.on('message', (m: StartMessage | CommitMessage) => {
  if ('start' in m) return started(m.start);
  gen = Math.max(gen, m.gen);
  if (m.complete) complete.add(m.complete);
  if (m.all) all = true;
  for (const w of waiting.splice(0)) w();
});
const { path, tables, lockedMs = 10_000 } = await start;
const nextMessage = (ms?: number) =>
  new Promise<void>((resolve) => {
    waiting.push(resolve);
    if (ms !== undefined) setTimeout(resolve, ms);
  });

/** When the reader first found the file locked since the writer's last commit (a commit in between: not stuck). */
let lockedAt = { since: 0, gen: -1 };

/**
 * The file is locked while the writer commits (with a rollback journal, a commit locks readers out): its message
 * says when it is done, where SQLite's busy handler would sleep 1, 2, 5, … ms. A short wait as well, in case no
 * message is coming (a lock that is not the load's commit).
 */
async function locked(): Promise<void> {
  if (lockedAt.gen !== gen) lockedAt = { since: Date.now(), gen };
  if (Date.now() - lockedAt.since > lockedMs) throw new Error(`the scratch file stayed locked for ${lockedMs / 1000} s`);
  await nextMessage(5);
}

const isComplete = (name: string) => all || complete.has(name);
const growing = (name: string): Growing => ({
  state: () => ({ complete: isComplete(name), gen }),
  changed: async (seen) => {
    while (gen === seen && !isComplete(name)) await nextMessage();
  },
  locked,
});

/** The read-only connection, opened as the reads are made: a locked file is waited for by `locked`. */
function openSource(): Promise<LocalDb> {
  // Reading in key order needs few pages at a time: a small cache keeps this second connection's memory down.
  return unlocked({ locked }, async () => openLocalDb(path, { readonly: true, cacheKiB: 2048, busyTimeoutMs: 0 }));
}

let source: LocalDb | null = null;
try {
  source = await openSource();
  for (const t of tables) {
    const r = await checksumRows(source, t.info, t.rowidName, growing(t.info.name), t.largestRow);
    port.postMessage({ table: t.info.name, ...r } satisfies VerifierReply);
  }
  // Every row is committed now: check foreign keys while the main thread builds the indexes. A parent key whose
  // unique index is built after the rows makes SQLite refuse ("foreign key mismatch"): that check waits for them.
  // Not before the writer has said `all`: the check reads every table in one statement, holding the file's lock
  // throughout, and with the load's rollback journal the writer's last commit (rowsLoaded) waited for it and failed
  // with "database is locked" once it took longer than the busy timeout (10 s: the current bench shape's 3x restore
  // on a busy machine). After `all` the file is in WAL mode, where a reader never holds up the writer.
  while (!all) await nextMessage();
  let foreignKeys: Record<string, number> | null = null;
  try {
    foreignKeys = await foreignKeyViolations(source);
  } catch {
    foreignKeys = null;
  }
  port.postMessage({ foreignKeys } satisfies VerifierReply);
} catch (e) {
  port.postMessage({ error: (e as Error).message, code: (e as { code?: string }).code } satisfies VerifierReply);
} finally {
  await source?.close();
  port.close();
}
