/**
 * Argument parsing on node:util's parseArgs, driven by a command's table (specs.ts): strict (an unknown flag is a
 * usage error, with the closest known flag suggested), positionals counted, plus the small conversions every
 * command needs.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BackupError } from '../errors.js';
import { allFlags, closest } from './help.js';
import type { CommandSpec } from './specs.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The parsed flags: a string for a flag with a value, a boolean otherwise (absent flags are undefined). */
export type Values = Record<string, string | boolean | undefined>;

export interface Parsed {
  /** Reads a string flag. */
  str(name: string): string | undefined;
  /** Reads a boolean flag. */
  bool(name: string): boolean;
  values: Values;
  positionals: string[];
}

function optionsOf(spec: CommandSpec): Options {
  const options: Options = {};
  for (const f of allFlags(spec)) options[f.name] = { type: f.value ? 'string' : 'boolean', ...(f.short ? { short: f.short } : {}) };
  return options;
}

const TOKEN_HINT = 'a token never goes on the command line: put it in a variable and name that with --auth-token-env NAME';

/** An unknown flag, with what was probably meant: a near spelling, or the flag another command uses for it. */
function unknownFlag(spec: CommandSpec, raw: string): BackupError {
  const name = raw.replace(/^-+/, '').split('=')[0]!;
  const hint = spec.hints?.[name] ?? (/^(auth-)?token$/.test(name) ? TOKEN_HINT : undefined);
  if (hint) return new BackupError('USAGE', `unknown flag ${raw.split('=')[0]}: ${hint}`);
  const near = closest(
    name,
    allFlags(spec).map((f) => f.name),
  );
  return new BackupError('USAGE', `unknown flag ${raw.split('=')[0]}${near ? ` (did you mean --${near}?)` : ''}`);
}

/** Parses `argv` against the command's table: unknown flags and a wrong number of positionals are usage errors. */
export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  const options = optionsOf(spec);
  // A lenient pass first, to name an unknown flag with a suggestion rather than parseArgs' bare message.
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens ?? []) {
    if (t.kind === 'option' && !(t.name in options)) throw unknownFlag(spec, t.rawName);
  }
  let r: ReturnType<typeof parseArgs>;
  try {
    r = parseArgs({ args: argv, options, strict: true, allowPositionals: spec.positionals.max > 0 });
  } catch (e) {
    const msg = (e as Error).message
      .split('\n')[0]!
      .replace(/\. To specify a positional.*$/, '')
      .replace(/^Unexpected argument/, 'unexpected argument')
      // parseArgs' words for a flag followed by another flag (or a value that starts with "-"): say what is missing.
      .replace(/^Option '(--[\w-]+)' argument is ambiguous\.?$/, '$1 needs a value (one that starts with "-" is written $1=VALUE)')
      .replace(/^Option '(--[\w-]+)' does not take an argument$/, '$1 takes no value')
      .replace(/^Option '(--[\w-]+)(?: <value>)?' argument missing$/, '$1 needs a value');
    throw new BackupError('USAGE', msg);
  }
  const { min, max } = spec.positionals;
  if (r.positionals.length < min || r.positionals.length > max) {
    const what = r.positionals.length < min ? `missing ${spec.args}` : `too many arguments (${spec.name} takes ${spec.args ?? 'none'})`;
    throw new BackupError('USAGE', what);
  }
  const values = r.values as Values;
  // A command reading a flag its table does not declare is a bug in the command, caught by any test that runs it.
  const known = (name: string) => {
    if (!(name in options)) throw new BackupError('INTERNAL', `${spec.name} reads an undeclared flag --${name}`);
    return name;
  };
  return {
    values,
    positionals: r.positionals,
    str: (name) => values[known(name)] as string | undefined,
    bool: (name) => values[known(name)] === true,
  };
}

/**
 * A list of names: `a, b,c` → ['a', 'b', 'c'] (undefined stays undefined). A name holding a comma, or spaces at its
 * ends, is written in double quotes, a quote in it doubled, as in SQL: `"a,b", " c", "say ""hi"""`. Unquoted names
 * are trimmed, and empty ones dropped.
 */
export function list(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const names: string[] = [];
  let at = 0;
  while (at <= v.length) {
    while (v[at] === ' ') at++;
    if (v[at] !== '"') {
      const comma = v.indexOf(',', at);
      const end = comma < 0 ? v.length : comma;
      const name = v.slice(at, end).trim();
      if (name) names.push(name);
      at = end + 1;
      continue;
    }
    const quoted = quotedName(v, at);
    names.push(quoted.name);
    at = quoted.end + 1;
  }
  return names;
}

/** The quoted name opening at `open` in `v`, and where it ends (the comma after it, or the end of `v`). */
function quotedName(v: string, open: number): { name: string; end: number } {
  let name = '';
  let at = open + 1;
  for (;;) {
    const close = v.indexOf('"', at);
    if (close < 0) throw new BackupError('USAGE', `a quoted name has no closing quote in: ${v}`);
    name += v.slice(at, close);
    if (v[close + 1] !== '"') {
      at = close + 1;
      break;
    }
    name += '"';
    at = close + 2;
  }
  while (v[at] === ' ') at++;
  if (at < v.length && v[at] !== ',') throw new BackupError('USAGE', `a quoted name must be followed by a comma or the end in: ${v}`);
  return { name, end: at };
}

/** A flag's non-negative integer, or `dflt` when absent; anything else is a usage error naming the flag. */
export function positiveInt(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new BackupError('USAGE', `${flag} must be a non-negative integer (got ${v})`);
  return n;
}
