/**
 * Typed errors: every failure the operator can meet carries a stable `code`; the CLI maps the code to an exit
 * status and prints `message` as one line. Messages name the cause in the operator's terms and never hold
 * secrets or row data.
 */
export type ErrorCode =
  | 'USAGE' // bad flags or arguments (exit 2)
  | 'CONFIG' // missing or invalid environment (exit 2)
  | 'NOT_FOUND' // a source file, database or blob that does not exist
  | 'CORRUPT' // a dump that fails verification: truncated, tampered, not a dump
  | 'UNSUPPORTED' // a dump of a newer format version, a feature we do not handle
  | 'REFUSED' // a safety refusal: target holds data, target is the source, ...
  | 'SCHEMA' // the target's schema cannot receive the dump
  | 'CONSTRAINT' // a constraint failed during a load
  | 'DECRYPT' // wrong key, or a changed container header (a changed block after it is CORRUPT)
  | 'REMOTE' // a remote service failed (after retries)
  | 'AUTH' // a remote service refused our credentials
  | 'SNAPSHOT' // the read snapshot was lost
  | 'SINK' // the destination failed
  | 'NO_SPACE' // a disk filled up (the message names the path and what was left behind)
  | 'INTERRUPTED' // SIGINT / SIGTERM
  | 'PROBLEMS' // a check ran and found problems (exit 3)
  | 'INTERNAL';

/** Every failure the operator (or a library caller) can meet: `code` says what kind, `message` is one line. */
export class BackupError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackupError';
    this.code = code;
  }
}

/** Exit status of a check that ran and found problems (`check`; any command may return or throw 'PROBLEMS'). */
export const EXIT_PROBLEMS = 3;

/**
 * The exit status of a failure: 2 for usage or configuration, 3 when a check found problems ('PROBLEMS', or one of
 * `problems`: the codes that mean "found a problem" for the command at hand, e.g. CORRUPT for verify), else 1.
 */
export function exitCodeFor(err: unknown, problems: readonly ErrorCode[] = []): number {
  if (err instanceof BackupError && (err.code === 'USAGE' || err.code === 'CONFIG')) return 2;
  if (err instanceof BackupError && (err.code === 'PROBLEMS' || problems.includes(err.code))) return EXIT_PROBLEMS;
  return 1;
}

/** A full disk, as Node (ENOSPC, EDQUOT) or SQLite (SQLITE_FULL) reports it. */
export function isNoSpace(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || (e instanceof BackupError && e.code === 'NO_SPACE');
}

/** The code of any error, for a machine-readable failure: ours as they are, a full disk as NO_SPACE, else INTERNAL. */
export function errorCodeOf(e: unknown): ErrorCode {
  if (e instanceof BackupError) return e.code;
  return isNoSpace(e) ? 'NO_SPACE' : 'INTERNAL';
}

/** True for a BackupError (of `code`, when given). */
export const isBackupError = (e: unknown, code?: ErrorCode): e is BackupError => e instanceof BackupError && (code === undefined || e.code === code);

/** Secret values read from elsewhere than the well-known variables (e.g. the one --auth-token-env names). */
const extraSecrets = new Set<string>();

/** Adds a secret value to what scrub() removes from every message; returns it. */
export function registerSecret<T extends string | undefined>(value: T): T {
  if (value && value.length >= 6) extraSecrets.add(value);
  return value;
}

/** Removes anything that looks like a secret from a message: tokens in URLs, bearer values, known env secrets. */
export function scrub(message: string): string {
  let out = message
    .replace(/(authToken|token|auth|key|secret|password)=([^&\s"']+)/gi, '$1=REDACTED')
    .replace(/Bearer\s+[A-Za-z0-9._~+/=-]+/gi, 'Bearer REDACTED')
    .replace(/\/\/[^/\s:@]+:[^/\s@]+@/g, '//REDACTED@');
  for (const name of ['TURSO_AUTH_TOKEN', 'BLOB_READ_WRITE_TOKEN', 'CRON_SECRET', 'BACKUP_ENCRYPTION_KEY']) {
    const v = process.env[name];
    if (v && v.length >= 6) out = out.split(v).join('REDACTED');
  }
  for (const v of extraSecrets) out = out.split(v).join('REDACTED');
  return out;
}

/** The one line an operator sees for an error: ours as they are, anything else marked unexpected. */
export function describeError(e: unknown): string {
  if (e instanceof BackupError) return e.message;
  const err = e as Error;
  // Where no layer knew the path to name, a full disk still reads as one.
  if (isNoSpace(e)) return `no space left on the device (${(e as { code: string }).code}: ${err.message})`;
  return `unexpected error: ${err?.message ?? String(e)}`;
}
