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
  | 'DECRYPT' // wrong key or changed ciphertext
  | 'REMOTE' // a remote service failed (after retries)
  | 'AUTH' // a remote service refused our credentials
  | 'SNAPSHOT' // the read snapshot was lost
  | 'SINK' // the destination failed
  | 'INTERRUPTED' // SIGINT / SIGTERM
  | 'PROBLEMS' // a check ran and found problems (exit 3)
  | 'INTERNAL';

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

export function exitCodeFor(err: unknown): number {
  if (err instanceof BackupError && (err.code === 'USAGE' || err.code === 'CONFIG')) return 2;
  if (err instanceof BackupError && err.code === 'PROBLEMS') return EXIT_PROBLEMS;
  return 1;
}

export const isBackupError = (e: unknown, code?: ErrorCode): e is BackupError =>
  e instanceof BackupError && (code === undefined || e.code === code);
