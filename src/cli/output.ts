/**
 * Output discipline: human lines go to stdout, or to stderr when --json keeps stdout for the one-line machine
 * summary; --quiet drops them.
 */
export interface Out {
  info(line: string): void;
  json(value: unknown): void;
}

export function makeOut(opts: { json?: boolean; quiet?: boolean }): Out {
  return {
    info(line) {
      if (opts.quiet) return;
      (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
    },
    json(value) {
      process.stdout.write(`${JSON.stringify(value)}\n`);
    },
  };
}

export { fmtBytes } from '../units.js';

export function table(rows: [string, string][]): string[] {
  const w = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([a, b]) => `  ${a.padEnd(w)}  ${b}`);
}
