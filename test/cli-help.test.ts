/**
 * The CLI's shape (issue 14): `--help` on the tool and on every command (usage, every flag with its default, the
 * environment, an example, exit codes) through both `turso-backup <command>` and the `scripts/*.ts` aliases,
 * `--version`, suggestions for misspelt commands and flags, and one meaning per flag name across commands.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA } from '../src/backup/plan.js';
import { parseCommand } from '../src/cli/args.js';
import { allFlags, closest, editDistance } from '../src/cli/help.js';
import { MEDIA_CONCURRENCY, SPECS, specOf, type CommandSpec } from '../src/cli/specs.js';
import { BackupError } from '../src/errors.js';
import { DEFAULT_CONCURRENCY } from '../src/media/check.js';
import { DEFAULT_MAX_AGE, DEFAULT_MIN_ROWS_RATIO } from '../src/monitor/check.js';
import { runCli, runScript } from './support/scripts.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const clean = { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined, BLOB_READ_WRITE_TOKEN: undefined, DEBUG: undefined };

/** What every command's help must show: its flags with placeholders and defaults, its variables, examples, exit codes. */
function expectCompleteHelp(text: string, spec: CommandSpec, invocation: string) {
  expect(text).toContain(`usage: ${invocation}${spec.args ? ` ${spec.args}` : ''} [flags]`);
  for (const f of allFlags(spec)) {
    expect(text, `--${f.name}`).toContain(`--${f.name}${f.value ? ` ${f.value}` : ''}`);
    if (f.default !== undefined) expect(text.replace(/\s+/g, ' '), `--${f.name}'s default`).toContain(`(default: ${f.default})`);
  }
  for (const [name] of spec.env) expect(text).toContain(name);
  expect(text).toMatch(/\nexamples:\n {2}\S/);
  expect(text).toMatch(/\nexit codes:\n {2}0 /);
  for (const [code] of spec.exits) expect(text).toMatch(new RegExp(`\\n {2}${code.replace('/', '\\/')} `));
  expect(text).toContain('-h, --help');
}

describe('turso-backup --help and --version', () => {
  it('--help, -h and no-argument help list every command, the shared flags and the exit codes', async () => {
    const r = await runCli(['--help'], clean);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    for (const s of SPECS) expect(r.stdout).toMatch(new RegExp(`\\n {2}${s.name} +${s.summary.slice(0, 20).replace(/[()]/g, '.')}`));
    for (const s of SPECS) expect(r.stdout).toContain(`scripts/${s.alias}.ts`);
    expect(r.stdout).toMatch(/--db URL/);
    expect(r.stdout).toMatch(/--auth-token-env NAME/);
    expect(r.stdout).toMatch(/\.env/);
    for (const code of ['0', '1', '2', '3', '130/143']) expect(r.stdout).toMatch(new RegExp(`\\n {2}${code.replace('/', '\\/')} `));
    const h = await runCli(['-h'], clean);
    expect(h.stdout).toBe(r.stdout);
    const none = await runCli([], clean);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^turso-backup: error: usage: turso-backup <command>/);
  });

  it('--version prints the package version, on the tool, on a command and on an alias', async () => {
    for (const r of [
      await runCli(['--version'], clean),
      await runCli(['backup', '--version'], clean),
      await runScript('verify-backup', ['--version'], clean),
    ]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`turso-backup ${VERSION}\n`);
    }
  });

  it('every command answers --help, -h and `help <command>` completely, exit 0, and runs nothing', async () => {
    for (const spec of SPECS) {
      const r = await runCli([spec.name, '--help'], clean);
      expect(r.code, `${spec.name}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toBe('');
      expectCompleteHelp(r.stdout, spec, `turso-backup ${spec.name}`);
      // --help wins over anything else on the line, even a bad flag or a missing variable.
      const h = await runCli([spec.name, '--bogus', '-h'], clean);
      expect(h.code).toBe(0);
      expect(h.stdout).toBe(r.stdout);
      expect((await runCli(['help', spec.name], clean)).stdout).toBe(r.stdout);
    }
  });

  it('every scripts/*.ts alias answers --help the same way, under its own name', async () => {
    const runs = await Promise.all(SPECS.map((s) => runScript(s.alias, ['--help'], clean)));
    SPECS.forEach((spec, i) => {
      const r = runs[i]!;
      expect(r.code, `${spec.alias}: ${r.stderr}`).toBe(0);
      expectCompleteHelp(r.stdout, spec, `npx tsx scripts/${spec.alias}.ts`);
      expect(r.stdout).toContain(`(the same as turso-backup ${spec.name})`);
      expect(r.stdout).not.toMatch(/^\s+turso-backup /m); // examples use the alias too
    });
  });
});

describe('mistakes', () => {
  it('a misspelt flag: exit 2, one line suggesting the closest flag', async () => {
    const cases: [string[], RegExp][] = [
      [['backup', '--wirte'], /unknown flag --wirte \(did you mean --write\?\)/],
      [['restore', 'x.gz', '--confrim'], /unknown flag --confrim \(did you mean --confirm\?\)/],
      [['backup', '--exclude', 'a'], /did you mean --exclude-tables\?/],
      [['check', '--max-agee=3h'], /unknown flag --max-agee \(did you mean --max-age\?\)/],
      [['restore', 'x.gz', '--db', 'file:x.db'], /unknown flag --db: the database to restore into is --target URL/],
      [['backup', '--target', 'file:x.db'], /unknown flag --target: the database to back up is --db URL/],
      // A flag left without its value, last on the line: our words, not the option parser's.
      [['backup', '--gzip-level'], /error: --gzip-level needs a value \(usage/],
      [['check', '--max-age'], /error: --max-age needs a value \(usage/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, clean);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(
        new RegExp(`^turso-backup ${args[0]}: error: .*\\(usage: turso-backup ${args[0]}.* \\[flags\\]; --help lists the flags\\)$`, 'm'),
      );
    }
  });

  it('a token on the command line is refused without being echoed', async () => {
    const token = 'eyJhbGciOiJFZERTQSJ9.c2VjcmV0LXRva2VuLXZhbHVl';
    for (const args of [
      ['backup', '--auth-token', token],
      ['backup', `--auth-token=${token}`],
      ['backup', '--auth-token-env', token],
    ]) {
      const r = await runCli([...args, '--json'], clean);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/token never goes on the command line|NAME of an environment variable/);
      expect(r.stderr + r.stdout).not.toContain(token);
    }
  });

  it('a misspelt command suggests the closest one, and an alias name points to its command', async () => {
    const r = await runCli(['bakcup'], clean);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "bakcup" \(did you mean backup\?\)/);
    // One level of parentheses: the usage follows after a semicolon, not nested in another pair.
    expect(r.stderr.trim()).toBe(
      'turso-backup: error: unknown command "bakcup" (did you mean backup?); usage: turso-backup <command> [flags]; --help lists the commands',
    );
    expect((await runCli(['restore-turso'], clean)).stderr).toMatch(/did you mean restore\?/);
    expect((await runCli(['--write'], clean)).stderr).toMatch(/--write is not a command: the command comes first/);
  });

  it('closest() suggests near spellings and unique prefixes, nothing for unrelated words', () => {
    expect(editDistance('wirte', 'write')).toBe(1);
    expect(closest('wirte', ['write', 'upload'])).toBe('write');
    expect(closest('exclude', ['exclude-tables', 'encrypt'])).toBe('exclude-tables');
    expect(closest('zzz', ['write', 'upload'])).toBeUndefined();
  });
});

describe('the command tables', () => {
  it('one flag name, one kind and one meaning across commands', () => {
    const seen = new Map<string, { value?: string; help: string; command: string }>();
    const shared = new Set([
      'db',
      'target',
      'auth-token-env',
      'json',
      'quiet',
      'prefix',
      'concurrency',
      'media-table',
      'url-column',
      'pathname-column',
      'dump',
      'tables',
    ]);
    for (const spec of SPECS) {
      for (const f of allFlags(spec)) {
        const before = seen.get(f.name);
        if (before) {
          expect(Boolean(f.value), `--${f.name} takes a value in ${before.command} but not in ${spec.name}, or the reverse`).toBe(Boolean(before.value));
          if (shared.has(f.name)) expect(f.help, `--${f.name} means one thing`).toBe(before.help);
        } else {
          seen.set(f.name, { value: f.value, help: f.help, command: spec.name });
        }
      }
    }
    // The database flags where a command works on a database.
    for (const name of ['backup', 'migrate', 'media-check', 'relink', 'media-mirror'])
      expect(allFlags(specOf(name)!).map((f) => f.name)).toEqual(expect.arrayContaining(['db', 'auth-token-env']));
    for (const name of ['restore', 'drill']) expect(allFlags(specOf(name)!).map((f) => f.name)).toEqual(expect.arrayContaining(['target', 'auth-token-env']));
  });

  it('exit codes promise a dry run and removed output only where a command has them', () => {
    const exit = (command: string, code: string) => specOf(command)!.exits.find(([c]) => c === code)![1];
    const dryRuns = ['backup', 'restore', 'migrate', 'prune', 'relink'];
    const leavesOutput = ['backup', 'restore', 'migrate', 'drill', 'relink', 'media-mirror', 'report'];
    for (const spec of SPECS) {
      expect(exit(spec.name, '0').includes('dry run'), spec.name).toBe(dryRuns.includes(spec.name));
      expect(exit(spec.name, '130/143').includes('partial output is removed'), spec.name).toBe(leavesOutput.includes(spec.name));
    }
  });

  it("the defaults the help shows are the engine's", () => {
    const flag = (command: string, name: string) => specOf(command)!.flags.find((f) => f.name === name)!;
    expect(flag('media-check', 'concurrency').default).toBe(String(DEFAULT_CONCURRENCY));
    expect(MEDIA_CONCURRENCY).toBe(DEFAULT_CONCURRENCY);
    expect(flag('check', 'max-age').default).toBe(DEFAULT_MAX_AGE);
    // check --quiet still prints its problem lines (test/monitor/check.test.ts): the help must not promise silence.
    expect(flag('check', 'quiet').help).toMatch(/problems .*still printed/);
    expect(flag('check', 'min-rows-ratio').default).toBe(String(DEFAULT_MIN_ROWS_RATIO));
    expect(flag('backup', 'media-table').default).toBe(DEFAULT_MEDIA.table);
    expect(flag('media-check', 'url-column').default).toBe(DEFAULT_MEDIA.urlColumn);
    expect(flag('media-check', 'pathname-column').default).toBe(DEFAULT_MEDIA.pathnameColumn);
  });

  it('every flag of every table parses, and reading an undeclared flag is caught', () => {
    for (const spec of SPECS) {
      const argv = spec.flags.flatMap((f) => (f.value ? [`--${f.name}`, 'x'] : [`--${f.name}`]));
      const p = parseCommand(spec, [...argv, ...Array<string>(spec.positionals.min).fill('p')]);
      for (const f of spec.flags) expect(f.value ? p.str(f.name) : p.bool(f.name)).toBe(f.value ? 'x' : true);
      expect(() => p.bool('no-such-flag')).toThrow(BackupError);
    }
  });
});
