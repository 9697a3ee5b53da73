/**
 * Runs a command, timing it and reading what it cost in memory and CPU.
 *
 * Two sources, because our commands are a tree of processes (`npx` → `tsx` → the tsx-loaded wrapper script →
 * `node bin/turso-backup.mjs`, the plain-node child that does the work: src/cli/relaunch.ts):
 * - GNU `/usr/bin/time -f %M %U %S` around the whole command: %M is the peak RSS of the LARGEST single process of
 *   the tree (Linux's ru_maxrss of waited-for children is a maximum, not a sum); %U + %S is the CPU of ALL of them
 *   (npm, tsx and the wrapper add ~1.4 s of CPU per command here). For the anchors' pipelines: sqlite3, pigz or
 *   gunzip, and bash.
 * - bench/probe.cjs, preloaded into every node process through NODE_OPTIONS: each reports its own peak RSS and its
 *   own user+sys CPU (all of its threads) at exit. `work` below is the process that did the work: the one running
 *   bin/turso-backup.mjs, else (a command that runs in-process) the one that used the most CPU.
 * Without GNU time, /proc/PID/status's VmHWM of the direct child is polled instead (then only the probe sees
 * grandchildren).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** What one node process of a measured command cost (bench/probe.cjs). */
export interface ProcessCost {
  pid: number;
  argv: string[];
  /** From the process's start to its exit. */
  wallMs: number;
  peakRssMb: number;
  cpuMs: number;
}

/** One run of a command. */
export interface Measured {
  ms: number;
  /** Peak RSS of the working process (probe), else of the largest process of the tree. */
  peakRssMb: number | null;
  /** User + system CPU of the working process (probe), else of the whole tree (GNU time). */
  cpuMs: number | null;
  /** GNU time over the whole tree: largest process's peak RSS, sum of CPU. */
  treePeakRssMb: number | null;
  treeCpuMs: number | null;
  /** The working node process, when the command ran node (see above). */
  work: ProcessCost | null;
  /** Every node process of the tree. */
  processes: ProcessCost[];
  stdout: string;
}

/** A command to measure: argv or a shell pipeline, and its environment. */
export interface Command {
  /** Runs directly (no shell). */
  argv?: string[];
  /** A bash pipeline (`set -o pipefail`), for the anchors. */
  shell?: string;
  env?: NodeJS.ProcessEnv;
}

/** Whether GNU time is installed (`apt-get install -y time`); without it RSS is polled from /proc. */
export const GNU_TIME = existsSync('/usr/bin/time') && spawnSync('/usr/bin/time', ['-f', '%M', 'true']).status === 0;
const PROBE = resolve(import.meta.dirname, 'probe.cjs');
let seq = 0;

/** Runs `cmd` to completion; rejects with the tail of its stderr when it fails. */
export function measure(cmd: Command, env: NodeJS.ProcessEnv = cmd.env ?? process.env): Promise<Measured> {
  const probeFile = join(tmpdir(), `bench-probe-${process.pid}-${++seq}.jsonl`);
  rmSync(probeFile, { force: true });
  const nodeOptions = `${env.NODE_OPTIONS ?? ''} --require=${PROBE}`.trim();
  const childEnv = { ...env, NODE_OPTIONS: nodeOptions, BENCH_PROBE_FILE: probeFile, npm_config_update_notifier: 'false' };
  const inner = cmd.argv ?? ['bash', '-c', `set -o pipefail; ${cmd.shell}`];
  const argv = GNU_TIME ? ['/usr/bin/time', '-f', 'BENCH_TIME %M %U %S', ...inner] : inner;
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let polledKb = 0;
    const poll = GNU_TIME ? null : setInterval(() => (polledKb = Math.max(polledKb, vmHwmKb(child.pid))), 20);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (poll) clearInterval(poll);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const processes = readProbe(probeFile);
      if (code !== 0) return reject(new Error(`${inner.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      const t = /BENCH_TIME (\d+) ([\d.]+) ([\d.]+)/.exec(stderr);
      const treePeakRssMb = t ? Number(t[1]) / 1024 : polledKb ? polledKb / 1024 : null;
      const treeCpuMs = t ? (Number(t[2]) + Number(t[3])) * 1000 : null;
      const work = workingProcess(processes);
      resolvePromise({
        ms,
        peakRssMb: work?.peakRssMb ?? treePeakRssMb,
        cpuMs: work?.cpuMs ?? treeCpuMs,
        treePeakRssMb,
        treeCpuMs,
        work,
        processes,
        stdout,
      });
    });
  });
}

function vmHwmKb(pid: number | undefined): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0; // exited
  }
}

function readProbe(file: string): ProcessCost[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  rmSync(file, { force: true });
  return lines.map((l) => {
    const p = JSON.parse(l) as { pid: number; argv: string[]; uptimeMs: number; maxRssKb: number; userUs: number; sysUs: number };
    return { pid: p.pid, argv: p.argv, wallMs: p.uptimeMs, peakRssMb: p.maxRssKb / 1024, cpuMs: (p.userUs + p.sysUs) / 1000 };
  });
}

function workingProcess(ps: ProcessCost[]): ProcessCost | null {
  const cli = ps.find((p) => p.argv.some((a) => a.endsWith('turso-backup.mjs')));
  return cli ?? ps.reduce<ProcessCost | null>((best, p) => (!best || p.cpuMs > best.cpuMs ? p : best), null);
}

/** The median; the mean of the middle two for an even count. */
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
