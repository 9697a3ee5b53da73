/**
 * Running the operator scripts as a user would: `node --import tsx scripts/<name>.ts` (what `npx tsx` runs), output
 * captured. The working directory is an empty temporary folder: no `.env` of the developer's (read by every command)
 * and no relative path of the checkout leaks into a test.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = new URL('../../', import.meta.url).pathname;
/** `--import tsx` resolves from the working directory: name the loader by its path. */
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
let cwd: string | undefined;

export interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command args` with no stdin, and collects its exit code and output. */
export function capture(command: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<ScriptRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs `scripts/<name>.ts` under tsx with the given env additions (undefined values are removed). */
export function runScript(name: string, args: string[], env: Record<string, string | undefined>, opts: { cwd?: string } = {}): Promise<ScriptRun> {
  const merged: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete merged[k];
    else merged[k] = v;
  }
  cwd ??= mkdtempSync(join(tmpdir(), 'tb-script-cwd-'));
  return capture(process.execPath, ['--import', TSX, join(ROOT, 'scripts', `${name}.ts`), ...args], { cwd: opts.cwd ?? cwd, env: merged });
}

/**
 * Runs `turso-backup <args>` as the package's bin does (plain node, no alias), from the current sources: dist/ when
 * it is up to date, else the launcher's bundle of the sources (scripts/lib/launch.mjs). In one process, started with
 * the flags the bin's child gets (bin/relaunch.mjs): the process a test signals or reads the pid of does the work.
 */
export async function runCli(args: string[], env: Record<string, string | undefined>, opts: { cwd?: string } = {}): Promise<ScriptRun> {
  const { entryPoint, NODE_FLAGS } = await import('../../scripts/lib/launch.mjs');
  const entry = await entryPoint();
  const merged: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete merged[k];
    else merged[k] = v;
  }
  delete merged.TURSO_BACKUP_ALIAS;
  cwd ??= mkdtempSync(join(tmpdir(), 'tb-script-cwd-'));
  return capture(process.execPath, [...NODE_FLAGS, entry, ...args], { cwd: opts.cwd ?? cwd, env: merged });
}

/** The last non-empty stdout line, parsed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test assertions probe the shape
// biome-ignore lint/suspicious/noExplicitAny: the tests read summaries of every command's shape
export function lastJson<T = any>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}
