/**
 * The one entry point behind every operator command: `turso-backup <command> [flags]` (the package's bin) and the
 * `scripts/*.ts` aliases (which start it with TURSO_BACKUP_ALIAS set, see bin.ts) both land here. `--help` and
 * `--version` are answered from the command tables alone: no engine code is loaded for them.
 */
import { BackupError } from '../errors.js';
import { TOOL } from '../version.js';
import type { Parsed } from './args.js';
import { closest, commandHelp, toolHelp } from './help.js';
import { runCommand } from './run.js';
import { SPECS, specOf } from './specs.js';

/** What a command's main function gets besides its parsed flags. */
export interface CommandContext {
  /** The name its messages start with: `turso-backup backup`, or the alias `backup-turso`. */
  name: string;
}

export type CommandMain = (p: Parsed, signal: AbortSignal, ctx: CommandContext) => Promise<number | undefined>;

/** command → loader of its main function (loaded only when the command runs). */
const COMMANDS: Record<string, () => Promise<CommandMain>> = {
  backup: async () => (await import('./backup.js')).backupMain,
  restore: async () => (await import('./restore.js')).restoreMain,
  verify: async () => (await import('./verify.js')).verifyMain,
  migrate: async () => (await import('./migrate.js')).migrateMain,
  drill: async () => (await import('./drill.js')).drillMain,
  list: async () => (await import('./list.js')).listMain,
  prune: async () => (await import('./prune.js')).pruneMain,
  'media-check': async () => (await import('./media-check.js')).mediaCheckMain,
  relink: async () => (await import('./relink.js')).relinkMain,
  'media-mirror': async () => (await import('./media-mirror.js')).mediaMirrorMain,
  check: async () => (await import('./check.js')).checkMain,
  report: async () => (await import('./report.js')).reportMain,
};

const USAGE = 'usage: turso-backup <command> [flags]; --help lists the commands';

const usageError = (message: string) =>
  runCommand('turso-backup', async () => {
    throw new BackupError('USAGE', message);
  });

function unknownCommand(command: string): void {
  if (command.startsWith('-')) {
    usageError(`${command} is not a command: the command comes first; ${USAGE}`);
    return;
  }
  const near =
    closest(
      command,
      SPECS.map((s) => s.name),
    ) ?? SPECS.find((s) => s.alias === command)?.name;
  usageError(`unknown command "${command}"${near ? ` (did you mean ${near}?)` : ''}; ${USAGE}`);
}

/** The flags before a `--` (after it everything is an argument). */
const flagsPart = (argv: string[]) => (argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv);

/**
 * Runs `turso-backup <command> [flags]`. With `alias`, the command was started through its `scripts/<alias>.ts`
 * wrapper: messages and help use that name.
 */
export function main(argv: string[], opts: { alias?: boolean } = {}): void {
  const [command, ...rest] = argv;
  if (command === undefined) {
    usageError(USAGE);
    return;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    const spec = rest[0] === undefined ? undefined : specOf(rest[0]);
    if (rest[0] !== undefined && !spec) {
      unknownCommand(rest[0]);
      return;
    }
    process.stdout.write(spec ? commandHelp(spec) : toolHelp());
    return;
  }
  if (command === '--version') {
    process.stdout.write(`${TOOL}\n`);
    return;
  }
  const spec = specOf(command);
  if (!spec) {
    unknownCommand(command);
    return;
  }
  const flags = flagsPart(rest);
  if (flags.includes('--help') || flags.includes('-h')) {
    process.stdout.write(commandHelp(spec, opts.alias));
    return;
  }
  if (flags.includes('--version')) {
    process.stdout.write(`${TOOL}\n`);
    return;
  }
  const name = opts.alias ? spec.alias : `turso-backup ${spec.name}`;
  runCommand(
    name,
    async (signal) => {
      const { loadDotEnv } = await import('./env-file.js');
      loadDotEnv();
      const { parseCommand } = await import('./args.js');
      const parsed = parseCommand(spec, rest);
      return (await COMMANDS[spec.name]!())(parsed, signal, { name });
    },
    { json: flags.includes('--json'), problems: spec.problems, usage: `${opts.alias ? spec.alias : name}${spec.args ? ` ${spec.args}` : ''} [flags]` },
  );
}
