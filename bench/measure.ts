/** Runs a command, timing it and (for our own commands) reading its peak RSS. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export interface Measured {
  ms: number;
  peakRssMb: number | null;
  stdout: string;
}

const GNU_TIME = existsSync('/usr/bin/time') && spawnSync('/usr/bin/time', ['-f', '%M', 'true']).status === 0;

/** `argv` runs directly (no shell); `shell` for pipelines such as the anchors. */
export function measure(cmd: { argv?: string[]; shell?: string }, env: NodeJS.ProcessEnv = process.env): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const argv = cmd.argv ? (GNU_TIME ? ['/usr/bin/time', '-f', 'PEAK_RSS_KB=%M', ...cmd.argv] : cmd.argv) : ['bash', '-c', `set -o pipefail; ${cmd.shell}`];
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let polled = 0;
    const poll = !GNU_TIME && cmd.argv
      ? setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) polled = Math.max(polled, Number(m[1]));
          } catch {
            /* exited */
          }
        }, 20)
      : null;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (poll) clearInterval(poll);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      const m = /PEAK_RSS_KB=(\d+)/.exec(stderr);
      const kb = m ? Number(m[1]) : polled || null;
      resolve({ ms, peakRssMb: cmd.argv && kb ? kb / 1024 : null, stdout });
    });
  });
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
