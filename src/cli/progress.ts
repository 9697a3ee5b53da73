/**
 * Progress on stderr: a live line on a TTY (rows, bytes, rate, ETA from the snapshot's counts), a plain line every
 * few seconds otherwise; nothing with --quiet. Never row data.
 */
import { fmtBytes, terminalSafe } from './output.js';

export interface ProgressSample {
  label: string;
  done: number;
  total: number;
  bytes?: number;
}

export function makeProgress(opts: { quiet?: boolean; unit?: string; intervalMs?: number }) {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  // A plain (non-TTY) log gets its first line after one interval, not for every short run.
  let lastPrint = tty ? 0 : started;
  let lastLen = 0;
  // TURSO_BACKUP_PROGRESS_MS sets the cadence of the plain (non-TTY) lines, e.g. for a log collector.
  const envEvery = Number(process.env.TURSO_BACKUP_PROGRESS_MS);
  const every = opts.intervalMs ?? (Number.isFinite(envEvery) && envEvery > 0 ? envEvery : tty ? 100 : 5000);
  const unit = opts.unit ?? 'rows';
  const render = (s: ProgressSample) => {
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? s.done / secs : 0;
    const eta = rate > 0 && s.total > s.done ? `, ETA ${Math.ceil((s.total - s.done) / rate)}s` : '';
    const pct = s.total > 0 ? ` (${Math.floor((100 * s.done) / s.total)}%)` : '';
    const bytes = s.bytes !== undefined ? `, ${fmtBytes(s.bytes)}` : '';
    const filled = s.total > 0 ? Math.min(20, Math.floor((20 * s.done) / s.total)) : 0;
    const bar = tty ? `[${'#'.repeat(filled)}${'-'.repeat(20 - filled)}] ` : '';
    return `${bar}${s.label}: ${s.done.toLocaleString('en-US')}/${s.total.toLocaleString('en-US')} ${unit}${pct}${bytes}, ${Math.round(rate).toLocaleString('en-US')} ${unit}/s${eta}`;
  };
  return {
    update(s: ProgressSample) {
      if (opts.quiet) return;
      const now = Date.now();
      if (now - lastPrint < every) return;
      lastPrint = now;
      const line = terminalSafe(render(s));
      if (tty) {
        process.stderr.write(`\r${line.padEnd(lastLen)}`);
        lastLen = line.length;
      } else {
        process.stderr.write(`${line}\n`);
      }
    },
    done() {
      if (!opts.quiet && tty && lastLen > 0) process.stderr.write(`\r${' '.repeat(lastLen)}\r`);
      lastLen = 0;
    },
  };
}
