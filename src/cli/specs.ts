/**
 * Every command's interface in one place: its flags (with defaults), positionals, the environment it reads,
 * examples and exit codes. Argument parsing (args.ts) and `--help` (help.ts) are both derived from these tables,
 * so what the help says is what the parser accepts. This module imports nothing heavy: `--help` loads no engine
 * code.
 */
import type { ErrorCode } from '../errors.js';
import { DEFAULT_GZIP } from '../format/gzip.js';

export interface FlagSpec {
  /** The long name, without `--`. */
  name: string;
  /** A one-letter alias, without `-`. */
  short?: string;
  /** The placeholder of a flag that takes a value (`PATH`); absent for a boolean flag. */
  value?: string;
  /** What happens when the flag is absent, as the help shows it. */
  default?: string;
  help: string;
}

export interface CommandSpec {
  /** `turso-backup <name>`. */
  name: string;
  /** The `scripts/<alias>.ts` alias (and the name in its messages). */
  alias: string;
  summary: string;
  /** The positional arguments' synopsis (`SOURCE`, `[DUMP]`); absent when there are none. */
  args?: string;
  positionals: { min: number; max: number };
  flags: FlagSpec[];
  /** More lines of explanation under the usage. */
  notes?: string[];
  env: [string, string][];
  examples: string[];
  exits: [string, string][];
  /** Error codes that mean "the check ran and found problems" for this command (exit 3). */
  problems?: ErrorCode[];
  /** A flag of another command given here: what to use instead. */
  hints?: Record<string, string>;
}

// Flags shared by several commands: one name, one meaning everywhere.
const DB: FlagSpec = { name: 'db', value: 'URL', default: '$TURSO_DATABASE_URL', help: 'the database: libsql://…, https://… or file:PATH' };
const TARGET: FlagSpec = {
  name: 'target',
  value: 'URL',
  default: '$TURSO_DATABASE_URL',
  help: 'the database to restore into: libsql://…, https://… or file:PATH',
};
const TOKEN_ENV: FlagSpec = {
  name: 'auth-token-env',
  value: 'NAME',
  default: 'TURSO_AUTH_TOKEN',
  help: 'the environment variable holding the database token (a token never goes on the command line)',
};
const JSON_FLAG: FlagSpec = {
  name: 'json',
  help: 'end stdout with one JSON summary line (human lines go to stderr); a failure ends it with {"ok":false,"code","message"}',
};
// One meaning everywhere: check's problem lines and every warning are what a cron's mail must still carry.
const QUIET: FlagSpec = { name: 'quiet', help: 'print no progress and no routine lines; warnings, problems and errors are still printed' };
const CONFIRM = (what: string): FlagSpec => ({ name: 'confirm', help: `${what} (without it: a dry run that changes nothing)` });
const PREFIX: FlagSpec = { name: 'prefix', value: 'PREFIX', default: 'backups/', help: 'the pathname prefix of the backups in the Blob store' };
const TABLES: FlagSpec = {
  name: 'tables',
  value: 'a,b',
  default: 'every table',
  help: 'only these tables (a name with a comma in double quotes: \'"a,b",c\')',
};
const MEDIA_TABLE: FlagSpec = { name: 'media-table', value: 'TABLE', default: 'MediaAsset', help: 'the table listing the media objects' };
const MEDIA_FLAGS: FlagSpec[] = [
  MEDIA_TABLE,
  { name: 'url-column', value: 'COLUMN', default: 'url', help: "the media table's column holding each object's url" },
  { name: 'pathname-column', value: 'COLUMN', default: 'blobPathname', help: "the media table's column holding each object's Blob pathname" },
];
/** Hardcoded here to keep --help light; test/cli-help.test.ts checks it equals media/check.ts's DEFAULT_CONCURRENCY. */
export const MEDIA_CONCURRENCY = 16;
const CONCURRENCY: FlagSpec = { name: 'concurrency', value: 'N', default: String(MEDIA_CONCURRENCY), help: 'Blob requests in flight (1..1024)' };
const DUMP: FlagSpec = { name: 'dump', value: 'DUMP', help: 'read the media inventory from this dump (file, Blob pathname or URL) instead of the database' };
const MAX_AGE: FlagSpec = { name: 'max-age', value: 'DURATION', default: '26h', help: 'the newest complete backup must be younger than this (s, m, h, d, w)' };
const RATIO: FlagSpec = {
  name: 'min-rows-ratio',
  value: 'R',
  default: '0.9',
  help: 'a table shrinking below R × its rows in the previous backup is a problem (0 disables)',
};
const STORE: FlagSpec[] = [
  { name: 'dir', value: 'DIR', help: 'read backups from this local folder' },
  { name: 'blob', help: 'read backups from the Blob store (the default when BLOB_READ_WRITE_TOKEN is set)' },
  PREFIX,
];

export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', help: 'show this help' };
export const VERSION_FLAG: FlagSpec = { name: 'version', help: "print the tool's version" };

// The environment, described once.
const ENV_DB: [string, string] = ['TURSO_DATABASE_URL', 'the database, unless --db is given'];
const ENV_TARGET: [string, string] = ['TURSO_DATABASE_URL', 'the database to restore into, unless --target is given'];
const ENV_TOKEN: [string, string] = ['TURSO_AUTH_TOKEN', 'the token of a remote database (or the variable --auth-token-env names)'];
const ENV_BLOB: [string, string] = ['BLOB_READ_WRITE_TOKEN', 'the Vercel Blob store'];
const ENV_BLOB_SOURCE: [string, string] = ['BLOB_READ_WRITE_TOKEN', 'to read a dump from the Blob store (a pathname or URL)'];
const ENV_KEY_READ: [string, string] = ['BACKUP_ENCRYPTION_KEY', 'to read an encrypted dump (64 hex characters or base64 of 32 bytes)'];
const ENV_DEBUG: [string, string] = ['DEBUG', '1 adds the stack trace to an error'];
const ENV_FILE: [string, string] = ['.env', 'a .env file in the working directory is read first; variables already set win'];

// The exit codes, described once. Only a command with a dry run mentions one, and only one that writes something
// says what an interrupt does with it: a read-only command's help promises nothing it has not got.
const EXIT_USAGE: [string, string] = ['2', 'usage or configuration: a bad flag or argument, a missing variable'];
interface ExitTraits {
  /** It is a dry run unless told otherwise (--write, --upload, --confirm). */
  dryRun?: boolean;
  /** It writes something (a file, a target, a scratch database) that an interrupt removes or rolls back. */
  writes?: boolean;
}
const exits = (failed: string, problems: string | undefined, traits: ExitTraits): [string, string][] => [
  ['0', traits.dryRun ? 'done (a dry run included)' : 'done'],
  ['1', failed],
  EXIT_USAGE,
  ...(problems ? [['3', problems] as [string, string]] : []),
  ['130/143', traits.writes ? 'interrupted (SIGINT/SIGTERM): partial output is removed' : 'interrupted (SIGINT/SIGTERM)'],
];

const backup: CommandSpec = {
  name: 'backup',
  alias: 'backup-turso',
  summary: 'back up a database to a local file and/or the Blob store (a dry run unless --write or --upload)',
  positionals: { min: 0, max: 0 },
  flags: [
    DB,
    TOKEN_ENV,
    { name: 'write', help: 'write the dump to a local file' },
    { name: 'out', value: 'PATH', default: 'backups/backup-<UTC time>.ndjson.gz', help: 'where --write puts the dump (its manifest goes beside it)' },
    { name: 'upload', help: 'stream the dump into the private Blob store (with --write: both, from one pass)' },
    TABLES,
    { name: 'exclude-tables', value: 'a,b', help: 'every table but these (quoted as for --tables)' },
    MEDIA_TABLE,
    {
      name: 'consistency',
      value: 'snapshot|per-table',
      default: 'snapshot',
      help: 'one read snapshot for everything, or one per table (huge remote databases)',
    },
    { name: 'encrypt', help: 'encrypt the dump with BACKUP_ENCRYPTION_KEY' },
    { name: 'gzip-level', value: '1-9', default: String(DEFAULT_GZIP.level), help: 'gzip compression level' },
    { name: 'clean-partials', help: 'with --write: remove the .NAME.partial-* files killed backups left in the output folder' },
    { name: 'alert', help: 'post a failure to BACKUP_ALERT_WEBHOOK_URL and ping BACKUP_HEARTBEAT_URL after the run' },
    JSON_FLAG,
    QUIET,
  ],
  notes: [
    'A dump is written under a hidden .NAME.partial-* name and renamed into place when complete, then its manifest;',
    'a failed or interrupted run removes it. A run killed outright (kill -9) cannot: the next backup names what it',
    'left, and --clean-partials removes it.',
  ],
  env: [
    ENV_DB,
    ENV_TOKEN,
    ['BLOB_READ_WRITE_TOKEN', 'the Blob store (--upload)'],
    ['BACKUP_ENCRYPTION_KEY', 'the key (--encrypt): openssl rand -hex 32'],
    ['BACKUP_ALERT_WEBHOOK_URL', 'a Slack/Discord-compatible webhook (--alert)'],
    ['BACKUP_HEARTBEAT_URL', 'a healthchecks.io-style ping URL (--alert); BACKUP_HEARTBEAT_FAIL_URL for failures'],
    ['TURSO_BACKUP_PROGRESS_MS', 'how often a progress line is printed when stderr is not a terminal (default 5000)'],
    ENV_DEBUG,
    ENV_FILE,
  ],
  examples: [
    'turso-backup backup                                  # dry run: tables and row counts, nothing written',
    'turso-backup backup --write --out backups/today.ndjson.gz',
    'turso-backup backup --db file:prisma/dev.db --write',
    'turso-backup backup --upload --encrypt --json       # into the Blob store, encrypted',
  ],
  exits: exits('the backup failed: nothing was left behind (the message says what failed)', undefined, { dryRun: true, writes: true }),
  hints: { target: 'the database to back up is --db URL', confirm: 'a backup writes with --write or --upload' },
};

const restore: CommandSpec = {
  name: 'restore',
  alias: 'restore-turso',
  summary: 'restore a dump into a fresh or migrated database (a dry run unless --confirm)',
  args: 'SOURCE',
  positionals: { min: 1, max: 1 },
  flags: [
    TARGET,
    TOKEN_ENV,
    CONFIRM('restore'),
    { name: 'clean', help: "replace the dumped tables' rows in a target that holds other rows (shown in the dry run first)" },
    TABLES,
    JSON_FLAG,
    QUIET,
  ],
  notes: [
    'SOURCE is a dump file, a Blob pathname (backups/…) or a Blob URL, or a legacy JSON backup. The whole dump is',
    'verified before the first write, and the target after the load; any failure rolls back.',
  ],
  env: [ENV_TARGET, ENV_TOKEN, ENV_BLOB_SOURCE, ENV_KEY_READ, ENV_DEBUG, ENV_FILE],
  examples: [
    'turso-backup restore backups/backup-2026-05-01T02-00-00.000Z.ndjson.gz --target file:restored.db',
    'turso-backup restore backups/backup-….ndjson.gz --target libsql://scratch-org.turso.io --auth-token-env SCRATCH_TOKEN --confirm',
  ],
  exits: exits('the restore failed or was refused: the target is as it was', undefined, { dryRun: true, writes: true }),
  hints: { db: 'the database to restore into is --target URL', write: 'a restore writes with --confirm' },
};

const verify: CommandSpec = {
  name: 'verify',
  alias: 'verify-backup',
  summary: 'check a dump end to end without any database (gzip, format, counts, checksums, trailer)',
  args: 'FILE|BLOB_PATHNAME|URL',
  positionals: { min: 1, max: 1 },
  flags: [JSON_FLAG, QUIET],
  env: [ENV_BLOB_SOURCE, ENV_KEY_READ, ENV_DEBUG, ENV_FILE],
  examples: ['turso-backup verify backups/backup-2026-05-01T02-00-00.000Z.ndjson.gz', 'turso-backup verify backups/backup-….ndjson.gz --json'],
  exits: exits('the dump could not be read (missing, wrong key, a newer format)', 'the dump is damaged: truncated, changed, not a dump', {}),
  problems: ['CORRUPT'],
};

const migrate: CommandSpec = {
  name: 'migrate',
  alias: 'migrate-turso',
  summary: 'apply Prisma migrations as `prisma migrate deploy` does (a dry run unless --confirm)',
  positionals: { min: 0, max: 0 },
  flags: [
    DB,
    TOKEN_ENV,
    { name: 'dir', value: 'DIR', default: 'prisma/migrations', help: 'the migrations folder' },
    CONFIRM('apply the pending migrations'),
    { name: 'status', help: 'report applied, pending, failed and changed migrations, like `prisma migrate status`' },
    { name: 'mark-rolled-back', value: 'NAME', help: 'record a failed migration as rolled back (`prisma migrate resolve --rolled-back`)' },
    { name: 'mark-applied', value: 'NAME', help: 'record a migration as applied (`prisma migrate resolve --applied`)' },
    JSON_FLAG,
    QUIET,
  ],
  env: [ENV_DB, ENV_TOKEN, ENV_DEBUG, ENV_FILE],
  examples: [
    'turso-backup migrate                              # dry run: what would be applied',
    'turso-backup migrate --db file:restored.db --confirm',
    'turso-backup migrate --status --json',
    'turso-backup migrate --mark-rolled-back 20240101000000_init --confirm',
  ],
  exits: exits('a migration failed or deploy would refuse; --status: not up to date (as `prisma migrate status`)', undefined, {
    dryRun: true,
    writes: true,
  }),
  hints: { target: 'the database to migrate is --db URL' },
};

const drill: CommandSpec = {
  name: 'drill',
  alias: 'drill',
  summary: 'restore drill: restore a backup into a scratch database and check it (PASS/FAIL)',
  args: '[SOURCE]',
  positionals: { min: 0, max: 1 },
  flags: [
    { name: 'dir', value: 'DIR', default: 'backups', help: 'where to find the newest complete local backup when SOURCE is not given' },
    { ...TARGET, default: 'a scratch file, removed after' },
    TOKEN_ENV,
    JSON_FLAG,
    QUIET,
  ],
  notes: [
    'A --target database must be empty (or freshly migrated); it is left in place. A record of the drill is written',
    'beside a local dump (the status page shows the last drill).',
  ],
  env: [['TURSO_AUTH_TOKEN', 'the token of a remote --target (or the variable --auth-token-env names)'], ENV_BLOB_SOURCE, ENV_KEY_READ, ENV_DEBUG, ENV_FILE],
  examples: [
    'turso-backup drill',
    'turso-backup drill backups/backup-….ndjson.gz --json',
    'turso-backup drill backups/backup-….ndjson.gz --target libsql://drill-org.turso.io --auth-token-env DRILL_TOKEN',
  ],
  exits: exits('the drill could not run (no backup found, an unreadable source)', 'the drill ran and FAILED (a check did not pass)', { writes: true }),
  hints: { db: 'a drill restores into --target URL (default: a scratch file)' },
};

const list: CommandSpec = {
  name: 'list',
  alias: 'list-backups',
  summary: 'list the backups in the Blob store, newest first, with their manifests',
  positionals: { min: 0, max: 0 },
  flags: [PREFIX, JSON_FLAG, QUIET],
  env: [ENV_BLOB, ENV_DEBUG, ENV_FILE],
  examples: ['turso-backup list', 'turso-backup list --json'],
  exits: exits('the store could not be read', undefined, {}),
};

const prune: CommandSpec = {
  name: 'prune',
  alias: 'prune-backups',
  summary: "apply a retention policy to the Blob store, like restic's forget (a dry run unless --confirm)",
  positionals: { min: 0, max: 0 },
  flags: [
    { name: 'keep-daily', value: 'N', default: '0', help: 'keep the newest backup of each of the last N days' },
    { name: 'keep-weekly', value: 'N', default: '0', help: 'keep the newest backup of each of the last N ISO weeks' },
    { name: 'keep-monthly', value: 'N', default: '0', help: 'keep the newest backup of each of the last N months' },
    CONFIRM('delete'),
    PREFIX,
    JSON_FLAG,
    QUIET,
  ],
  notes: ['Give at least one --keep-…. The newest complete backup is never deleted; incomplete uploads older than a day are.'],
  env: [ENV_BLOB, ENV_DEBUG, ENV_FILE],
  examples: [
    'turso-backup prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6',
    'turso-backup prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --confirm',
  ],
  exits: exits('the store could not be read, or a deletion failed', undefined, { dryRun: true }),
};

const mediaCheck: CommandSpec = {
  name: 'media-check',
  alias: 'media-check',
  summary: 'check that every media object the database (or a dump) lists is in the Blob store',
  args: '[DUMP]',
  positionals: { min: 0, max: 1 },
  flags: [DB, TOKEN_ENV, DUMP, CONCURRENCY, ...MEDIA_FLAGS, JSON_FLAG, QUIET],
  notes: ['The inventory is DUMP (or --dump) when given, else the media table of the database.'],
  env: [ENV_DB, ENV_TOKEN, ENV_BLOB, ENV_KEY_READ, ENV_DEBUG, ENV_FILE],
  examples: ['turso-backup media-check', 'turso-backup media-check backups/backup-….ndjson.gz --json'],
  exits: exits('the check could not run (the store refused the token, no such table)', 'objects are missing or could not be checked', {}),
};

const relink: CommandSpec = {
  name: 'relink',
  alias: 'relink-media',
  summary: "re-point the media rows' urls after the media moved (a dry run unless --confirm)",
  positionals: { min: 0, max: 0 },
  flags: [
    DB,
    TOKEN_ENV,
    { name: 'from', value: 'PREFIX', help: 'the url prefix to replace' },
    { name: 'to', value: 'PREFIX', help: 'its replacement' },
    { name: 'map', value: 'FILE', help: 'a JSON {old url: new url} map (media-mirror --map-out) instead of --from/--to' },
    CONFIRM('apply, in one transaction'),
    ...MEDIA_FLAGS,
    JSON_FLAG,
    QUIET,
  ],
  env: [ENV_DB, ENV_TOKEN, ENV_DEBUG, ENV_FILE],
  examples: [
    'turso-backup relink --from https://old.public.blob.vercel-storage.com/ --to https://new.public.blob.vercel-storage.com/',
    'turso-backup relink --map map.json --confirm',
  ],
  exits: exits('the relink failed: the database is unchanged', undefined, { dryRun: true, writes: true }),
};

const mediaMirror: CommandSpec = {
  name: 'media-mirror',
  alias: 'media-mirror',
  summary: 'download every media object into a folder, or put mirrored objects back (--upload-from)',
  args: '[DIR]',
  positionals: { min: 0, max: 1 },
  flags: [
    { name: 'upload-from', value: 'DIR', help: 're-upload the objects the store lacks from this mirror; prints the url mapping old → new' },
    { name: 'map-out', value: 'FILE', help: 'with --upload-from: write the url mapping as JSON (for relink --map)' },
    { name: 'access', value: 'auto|public|private', default: 'auto', help: 'with --upload-from: the access of re-uploaded objects (auto: as they were)' },
    DB,
    TOKEN_ENV,
    DUMP,
    CONCURRENCY,
    ...MEDIA_FLAGS,
    JSON_FLAG,
    QUIET,
  ],
  notes: ['Give DIR (download, resumable) or --upload-from DIR (re-upload), not both.'],
  env: [ENV_DB, ENV_TOKEN, ENV_BLOB, ENV_KEY_READ, ENV_DEBUG, ENV_FILE],
  examples: ['turso-backup media-mirror media-mirror/', 'turso-backup media-mirror --upload-from media-mirror/ --map-out map.json'],
  exits: exits('objects could not be mirrored or re-uploaded (listed on stderr)', undefined, { writes: true }),
};

const check: CommandSpec = {
  name: 'check',
  alias: 'check-backups',
  summary: 'freshness check: is the newest backup recent, complete and sound, and did a table lose rows?',
  positionals: { min: 0, max: 0 },
  flags: [MAX_AGE, RATIO, { name: 'verify', help: 'also read the newest backup end to end' }, ...STORE, JSON_FLAG, QUIET],
  env: [['BLOB_READ_WRITE_TOKEN', 'the Blob store (unless --dir)'], ['BACKUP_ENCRYPTION_KEY', 'to --verify an encrypted backup'], ENV_DEBUG, ENV_FILE],
  examples: ['turso-backup check --max-age 26h', 'turso-backup check --dir backups --verify --json'],
  exits: exits('the store could not be read', 'problems: one line each (stale, incomplete, damaged, a table that lost rows)', {}),
  hints: { db: 'check reads the backups (--dir DIR or the Blob store), not the database' },
};

const report: CommandSpec = {
  name: 'report',
  alias: 'backup-report',
  summary: 'write the status page: one static HTML file with the verdict, history and charts',
  positionals: { min: 0, max: 0 },
  flags: [{ name: 'html', value: 'FILE', help: 'where to write the page (required; mode 0600)' }, ...STORE, MAX_AGE, RATIO, JSON_FLAG, QUIET],
  env: [['BLOB_READ_WRITE_TOKEN', 'the Blob store (unless --dir)'], ENV_DEBUG, ENV_FILE],
  examples: ['turso-backup report --html status.html', 'turso-backup report --html status.html --dir backups'],
  exits: exits('the store could not be read or the file written', undefined, { writes: true }),
  hints: { db: 'report reads the backups (--dir DIR or the Blob store), not the database' },
};

/** The commands, in the order `turso-backup --help` lists them. */
export const SPECS: readonly CommandSpec[] = [backup, restore, verify, migrate, drill, list, prune, mediaCheck, relink, mediaMirror, check, report];

/** The table of command `name`, if there is one. */
export const specOf = (name: string): CommandSpec | undefined => SPECS.find((s) => s.name === name);
