/**
 * SQLite result code names (as drivers report them) to the numbers Prisma logs as "Database error code": rusqlite
 * gives the extended result code (sqlite.org/rescode.html).
 */
const PRIMARY: Record<string, number> = {
  ERROR: 1,
  INTERNAL: 2,
  PERM: 3,
  ABORT: 4,
  BUSY: 5,
  LOCKED: 6,
  NOMEM: 7,
  READONLY: 8,
  INTERRUPT: 9,
  IOERR: 10,
  CORRUPT: 11,
  NOTFOUND: 12,
  FULL: 13,
  CANTOPEN: 14,
  PROTOCOL: 15,
  EMPTY: 16,
  SCHEMA: 17,
  TOOBIG: 18,
  CONSTRAINT: 19,
  MISMATCH: 20,
  MISUSE: 21,
  NOLFS: 22,
  AUTH: 23,
  FORMAT: 24,
  RANGE: 25,
  NOTADB: 26,
};

const EXTENDED: Record<string, number> = {
  ERROR_MISSING_COLLSEQ: 257,
  ERROR_RETRY: 513,
  ERROR_SNAPSHOT: 769,
  BUSY_RECOVERY: 261,
  BUSY_SNAPSHOT: 517,
  BUSY_TIMEOUT: 773,
  LOCKED_SHAREDCACHE: 262,
  LOCKED_VTAB: 518,
  READONLY_RECOVERY: 264,
  READONLY_CANTLOCK: 520,
  READONLY_ROLLBACK: 776,
  READONLY_DBMOVED: 1032,
  CONSTRAINT_CHECK: 275,
  CONSTRAINT_COMMITHOOK: 531,
  CONSTRAINT_FOREIGNKEY: 787,
  CONSTRAINT_FUNCTION: 1043,
  CONSTRAINT_NOTNULL: 1299,
  CONSTRAINT_PRIMARYKEY: 1555,
  CONSTRAINT_TRIGGER: 1811,
  CONSTRAINT_UNIQUE: 2067,
  CONSTRAINT_VTAB: 2323,
  CONSTRAINT_ROWID: 2579,
  CONSTRAINT_PINNED: 2835,
  CONSTRAINT_DATATYPE: 3091,
};

/** `SQLITE_CONSTRAINT_UNIQUE` → "2067"; sqld's SQLITE_UNKNOWN (its name for a plain SQLITE_ERROR) → "1"; else "none" as Prisma writes for errors that are not SQLite's. */
export function extendedCode(code: string): string {
  const name = code.replace(/^SQLITE_/, '');
  if (name === 'UNKNOWN') return '1';
  const n = EXTENDED[name] ?? PRIMARY[name] ?? PRIMARY[name.split('_')[0]!];
  return n === undefined || !code.startsWith('SQLITE_') ? 'none' : String(n);
}
