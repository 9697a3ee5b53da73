/**
 * Preloaded into every node process of a measured command (NODE_OPTIONS=--require …/probe.cjs, by bench/measure.ts).
 *
 * Cost: at exit, appends one JSON line to $BENCH_PROBE_FILE with the process's pid, argv, lifetime, its own peak RSS
 * and its own CPU time (all its threads: main, worker threads, libuv's zlib pool; not its children). That tells which
 * process of `npx → tsx → tsx-loaded wrapper → node bin/turso-backup.mjs` did the work, and what it alone cost; GNU
 * time's %M and %U/%S only see the whole tree (the largest process; the sum of all).
 *
 * Profile: with $BENCH_PROFILE_DIR set, the process running bin/turso-backup.mjs (and each of its worker threads)
 * runs V8's CPU profiler, as `node --cpu-prof` would, and writes `<pid>-<threadId>.cpuprofile` there at exit.
 * `--cpu-prof` itself is refused in NODE_OPTIONS, and passing it on our command line would profile the npx/tsx
 * wrappers instead of the child that src/cli/relaunch.ts starts with its own flags.
 */
'use strict';
const { appendFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { isMainThread, threadId } = require('node:worker_threads');

const probeFile = process.env.BENCH_PROBE_FILE;
if (probeFile && isMainThread) {
  process.on('exit', () => {
    const u = process.resourceUsage();
    const line = {
      pid: process.pid,
      argv: process.argv,
      execArgv: process.execArgv,
      uptimeMs: process.uptime() * 1000,
      maxRssKb: u.maxRSS,
      userUs: u.userCPUTime,
      sysUs: u.systemCPUTime,
    };
    try {
      appendFileSync(probeFile, `${JSON.stringify(line)}\n`);
    } catch {
      /* the bench then reports the process as missing */
    }
  });
}

const profileDir = process.env.BENCH_PROFILE_DIR;
const isCli = isMainThread && process.argv.some((a) => a.endsWith('turso-backup.mjs'));
// Worker threads get a copy of the main thread's env: the marker says "your process is the one being profiled".
const isCliWorker = !isMainThread && process.env.BENCH_PROFILING_PID === String(process.pid);
if (profileDir && (isCli || isCliWorker)) {
  if (isCli) process.env.BENCH_PROFILING_PID = String(process.pid);
  const { Session } = require('node:inspector');
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  // An in-thread inspector session answers synchronously, so the profile is written before the thread is gone.
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(join(profileDir, `${process.pid}-${threadId}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
