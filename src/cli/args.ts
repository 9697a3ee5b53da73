/**
 * Argument parsing on node:util's parseArgs (strict: unknown flags are usage errors), plus the small conversions
 * every command needs.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BackupError } from '../errors.js';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  positionals: { min: number; max: number; usage: string },
) {
  try {
    const r = parseArgs({ args: argv, options, strict: true, allowPositionals: positionals.max > 0 });
    if (r.positionals.length < positionals.min || r.positionals.length > positionals.max) {
      throw new BackupError('USAGE', `usage: ${positionals.usage}`);
    }
    return r;
  } catch (e) {
    if (e instanceof BackupError) throw e;
    const msg = (e as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '');
    throw new BackupError('USAGE', `${msg} (usage: ${positionals.usage})`);
  }
}

export const list = (v: string | undefined): string[] | undefined =>
  v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean);

export function positiveInt(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new BackupError('USAGE', `${flag} must be a non-negative integer (got ${v})`);
  return n;
}
