/**
 * Output discipline: human lines go to stdout, or to stderr when --json keeps stdout for the one-line machine
 * summary; --quiet drops the routine ones (info) and keeps warnings and problems (warn), as every command's help says.
 */
export interface Out {
  /** A routine line: progress of a kind, what was done. Dropped by --quiet. */
  info(line: string): void;
  /** A warning or a problem found: printed whatever --quiet says (a quiet cron job's log is where it is read). */
  warn(line: string): void;
  json(value: unknown): void;
}

/**
 * C0 controls, DEL and C1 controls (U+009B is CSI to some terminals), and the bidirectional formatting characters
 * (U+202E and its kin reorder what is shown: a name can read as another): matching them is the point.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters a terminal must not receive
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const escaped = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * A line as it may reach a terminal: every control character written as a `\u` escape. Names in our lines come
 * from the database (a table may be called "a\nb" or hold ESC sequences): they must neither split a line nor drive
 * the operator's terminal.
 */
export const terminalSafe = (line: string): string => line.replace(CONTROL, escaped);

/** A value as one JSON line; JSON.stringify escapes C0 controls, and here C1 and bidi ones too (still valid JSON). */
export const jsonLine = (value: unknown): string => JSON.stringify(value).replace(JSON_UNSAFE, escaped);

/** Where human lines go, for `opts` (--json, --quiet). */
export function makeOut(opts: { json?: boolean; quiet?: boolean }): Out {
  const write = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${terminalSafe(line)}\n`);
  return {
    info(line) {
      if (!opts.quiet) write(line);
    },
    warn: write,
    json(value) {
      process.stdout.write(`${jsonLine(value)}\n`);
    },
  };
}

export { fmtBytes } from '../units.js';

/**
 * Two columns, the first padded to its widest entry as shown: names are escaped (terminalSafe) before they are
 * measured, and an empty name is shown as "" rather than as a blank.
 */
export function table(rows: [string, string][]): string[] {
  const shown = rows.map(([a, b]): [string, string] => [a === '' ? '""' : terminalSafe(a), b]);
  const w = Math.max(0, ...shown.map((r) => r[0].length));
  return shown.map(([a, b]) => `  ${a.padEnd(w)}  ${b}`);
}
