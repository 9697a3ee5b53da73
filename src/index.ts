/**
 * turso-backup as a library: the engine behind the CLI, for apps (a Next.js route, a worker, a script).
 *
 *   import { backup, restore, verifyDump, migrate, createCronHandler } from 'turso-backup';
 *
 * Each function takes URLs, tokens and an AbortSignal explicitly (nothing is read from the environment but what
 * an option's documentation says), returns the summary the CLI prints with `--json`, and throws a `BackupError`
 * whose `code` says what went wrong. Importing this module loads no database driver: each is loaded when used.
 */
export { backup, backupFileName, type BackupOptions, type BackupProgress, type BackupSummary } from './api/backup.js';
export { restore, type RestoreOptions, type RestoreProgress, type RestoreSummary } from './api/restore.js';
export { verifyDump, type VerifyOptions, type VerifySummary } from './api/verify.js';
export { migrate, type MigrateOptions, type MigratePlan, type MigrateSummary } from './api/migrate.js';
export { createCronHandler, type CronHandlerOptions } from './cron/handler.js';
export { createStatusHandler, type StatusHandlerOptions } from './cron/status.js';
export { fileSink } from './sink/file.js';
export { teeSink } from './sink/tee.js';
export { encryptSink } from './sink/encrypt.js';
export type { Sink, SinkResult } from './sink/types.js';
export type { Manifest } from './format/lines.js';
export { BackupError, isBackupError, type ErrorCode } from './errors.js';
