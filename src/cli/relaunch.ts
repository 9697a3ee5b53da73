/**
 * The `scripts/*.ts` wrappers run under tsx, whose TypeScript loader costs ~35 MB of resident memory. A backup must
 * stay within a flat memory budget, so the wrappers hand the command to a plain `node` child running the bundled
 * CLI (bin/turso-backup.mjs) with a small young generation, and mirror its exit status. Signals: the child shares
 * the terminal's process group, so Ctrl-C reaches it directly; a SIGTERM sent to this process is passed on.
 * TURSO_BACKUP_INPROCESS=1 runs the command here instead.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from './main.js';

const BIN = fileURLToPath(new URL('../../bin/turso-backup.mjs', import.meta.url));

/** V8 flags for the child: a 4 MB semi-space keeps short-lived garbage from inflating the heap (docs/DESIGN.md). */
const NODE_FLAGS = ['--max-semi-space-size=4'];

export function relaunch(command: string): void {
  const argv = [command, ...process.argv.slice(2)];
  if (process.env.TURSO_BACKUP_INPROCESS === '1') return main(argv);
  const child = spawn(process.execPath, [...NODE_FLAGS, BIN, ...argv], { stdio: 'inherit' });
  process.on('SIGINT', () => {}); // the child got it too and winds down; wait for it
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('error', (e) => {
    process.stderr.write(`${command}: error: cannot start node: ${e.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 143)));
}
