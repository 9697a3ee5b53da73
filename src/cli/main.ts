/**
 * The one entry point behind every operator command: `turso-backup <command> [args]` (the package's bin) and the
 * `scripts/*.ts` wrappers both land here.
 */
import { BackupError } from '../errors.js';
import { runCommand } from './run.js';

type Main = (argv: string[], signal: AbortSignal) => Promise<number | void>;

/** command → [script name used in messages, loader of its main function] */
export const COMMANDS: Record<string, [string, () => Promise<Main>]> = {
  backup: ['backup-turso', async () => (await import('./backup.js')).backupMain],
  restore: ['restore-turso', async () => (await import('./restore.js')).restoreMain],
  verify: ['verify-backup', async () => (await import('./verify.js')).verifyMain],
  migrate: ['migrate-turso', async () => (await import('./migrate.js')).migrateMain],
  drill: ['drill', async () => (await import('./drill.js')).drillMain],
  list: ['list-backups', async () => (await import('./list.js')).listMain],
  prune: ['prune-backups', async () => (await import('./prune.js')).pruneMain],
  'media-check': ['media-check', async () => (await import('./media-check.js')).mediaCheckMain],
  relink: ['relink-media', async () => (await import('./relink.js')).relinkMain],
  'media-mirror': ['media-mirror', async () => (await import('./media-mirror.js')).mediaMirrorMain],
  check: ['check-backups', async () => (await import('./check.js')).checkMain],
  report: ['backup-report', async () => (await import('./report.js')).reportMain],
};

const USAGE = `usage: turso-backup <${Object.keys(COMMANDS).join('|')}> [options]`;

export function main(argv: string[]): void {
  const [command, ...rest] = argv;
  const entry = command ? COMMANDS[command] : undefined;
  if (!entry) {
    runCommand('turso-backup', async () => {
      throw new BackupError('USAGE', command ? `unknown command "${command}" (${USAGE})` : USAGE);
    });
    return;
  }
  const [name, load] = entry;
  runCommand(name, async (signal) => (await load())(rest, signal));
}
