/**
 * `--help` text, rendered from the command tables (specs.ts), and "did you mean" suggestions for misspelt
 * commands and flags.
 */
import { TOOL } from '../version.js';
import { HELP_FLAG, SPECS, VERSION_FLAG, type CommandSpec, type FlagSpec } from './specs.js';

/** How the command was invoked: `turso-backup backup`, or its `scripts/backup-turso.ts` alias. */
export const invocation = (spec: CommandSpec, alias: boolean): string => (alias ? `npx tsx scripts/${spec.alias}.ts` : `turso-backup ${spec.name}`);

const flagLabel = (f: FlagSpec) => `${f.short ? `-${f.short}, ` : ''}--${f.name}${f.value ? ` ${f.value}` : ''}`;

/** Help lines are wrapped to this width (the second column wraps under itself). */
const WIDTH = 110;

/** Words of `text` in lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line];
}

/** Two aligned columns, the second wrapped; `indent` spaces before the first. */
function columns(rows: [string, string][], indent = 2): string[] {
  const w = Math.max(0, ...rows.map((r) => r[0].length));
  const pad = ' '.repeat(indent + w + 2);
  return rows.flatMap(([a, b]) => {
    const [first, ...more] = wrap(b, Math.max(40, WIDTH - pad.length));
    return [`${' '.repeat(indent)}${a.padEnd(w)}  ${first}`.trimEnd(), ...more.map((m) => `${pad}${m}`)];
  });
}

/** The flags of a command as parsed: its own, then --help and --version. */
export const allFlags = (spec: CommandSpec): FlagSpec[] => [...spec.flags, HELP_FLAG, VERSION_FLAG];

/** A command's help: usage, flags with their defaults, environment, examples, exit codes. */
export function commandHelp(spec: CommandSpec, alias = false): string {
  const me = invocation(spec, alias);
  const lines = [`${me}: ${spec.summary}`, ''];
  lines.push(`usage: ${me}${spec.args ? ` ${spec.args}` : ''} [flags]`);
  if (alias) lines.push(`       (the same as turso-backup ${spec.name})`);
  if (spec.notes) lines.push('', ...spec.notes);
  lines.push('', 'flags:');
  lines.push(...columns(allFlags(spec).map((f) => [flagLabel(f), f.default !== undefined ? `${f.help} (default: ${f.default})` : f.help])));
  lines.push('', 'environment:', ...columns(spec.env));
  lines.push('', 'examples:', ...spec.examples.map((e) => `  ${alias ? e.replace(`turso-backup ${spec.name}`, me) : e}`));
  lines.push('', 'exit codes:', ...columns(spec.exits));
  return `${lines.join('\n')}\n`;
}

/** The tool's help: every command with its summary, the shared conventions, the exit codes. */
export function toolHelp(): string {
  const lines = [
    `${TOOL}: streaming backup and restore for libSQL/Turso databases, media in Vercel Blob`,
    '',
    'usage: turso-backup <command> [flags]',
    '       turso-backup <command> --help     every flag of a command, its environment, examples and exit codes',
    '       turso-backup --version',
    '',
    'commands:',
    ...columns(SPECS.map((s) => [s.name, s.summary])),
    '',
    'Every command that changes something is a dry run unless told otherwise (--write, --upload, --confirm).',
    'The database is --db URL (--target URL for restore and drill), else TURSO_DATABASE_URL; its token is read from',
    'TURSO_AUTH_TOKEN or the variable --auth-token-env NAME names. A .env file in the working directory is read',
    'first (variables already set win). Errors are one line on stderr (DEBUG=1 adds the stack); --json ends stdout',
    'with one JSON line: the summary, or {"ok":false,"code":"…","message":"…"} on failure.',
    '',
    'exit codes:',
    ...columns([
      ['0', 'done (a dry run included)'],
      ['1', 'the operation failed or was refused'],
      ['2', 'usage or configuration'],
      ['3', 'a check ran and found problems (verify, drill, media-check, check)'],
      ['130/143', 'interrupted (SIGINT/SIGTERM)'],
    ]),
    '',
    'The same commands run from a checkout as npx tsx scripts/<alias>.ts:',
    ...columns(SPECS.map((s) => [`scripts/${s.alias}.ts`, `turso-backup ${s.name}`])),
  ];
  return `${lines.join('\n')}\n`;
}

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions (`--wirte` is one edit away). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `word`, when it is close enough to be a plausible typo: within a third of its length
 * in edits (at least one), or a prefix of it (`--exclude` → `--exclude-tables`).
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(w, c);
    if (!best || d < best.d) best = { c, d };
  }
  if (best && best.d <= Math.max(1, Math.floor(w.length / 3))) return best.c;
  const prefixed = candidates.filter((c) => c.startsWith(w) && w.length >= 3);
  return prefixed.length === 1 ? prefixed[0] : undefined;
}
