/**
 * Summarizes V8 CPU profiles (.cpuprofile, as written by `node --cpu-prof` or bench/probe.cjs): self time per group
 * (SQLite, JSON, hashing, GC, idle, our source files…) and the top functions. Functions of the bundled CLI are
 * mapped back to their source file through the bundle's source maps.
 *
 *   npx tsx bench/profile.ts FILE.cpuprofile…
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where one thread's time went. */
export interface ProfileSummary {
  /** The thread's lifetime in the profile, ms. */
  wallMs: number;
  /** ms per group, largest first. */
  groups: [string, number][];
  /** The functions with the most self time. */
  top: { name: string; where: string; group: string; ms: number }[];
}

/** better-sqlite3's native methods: they show in profiles with an empty url. */
const SQLITE_NATIVE = new Set([
  'all',
  'get',
  'run',
  'iterate',
  'raw',
  'pluck',
  'expand',
  'bind',
  'columns',
  'prepare',
  'exec',
  'pragma',
  'backup',
  'serialize',
  'close',
]);
const maps = new Map<string, SourceMap | null>();

/** The source file (e.g. src/format/encode.ts) and line of a bundled function, through its source map. */
function original(frame: CallFrame): { source: string; line: number } | null {
  if (!frame.url.startsWith('file://')) return null;
  const file = fileURLToPath(frame.url);
  if (!maps.has(file)) {
    const map = `${file}.map`;
    maps.set(file, existsSync(map) ? new SourceMap(JSON.parse(readFileSync(map, 'utf8'))) : null);
  }
  const entry = maps.get(file)?.findEntry(frame.lineNumber, frame.columnNumber);
  if (!entry || !('originalSource' in entry)) return null;
  const source = entry.originalSource.replace(/^.*?(?=(src|node_modules|bench|scripts)\/)/, '');
  return { source, line: entry.originalLine + 1 };
}

/** Which group a function's self time belongs to; `where` is its location for the top list. */
function classify(frame: CallFrame): { group: string; where: string } {
  const { functionName: name, url } = frame;
  if (name === '(idle)') return { group: 'idle (waiting: I/O, zlib on the thread pool, the other thread)', where: '' };
  if (name === '(garbage collector)') return { group: 'GC', where: '' };
  if (name === '(program)') return { group: 'V8/native, unattributed (program)', where: '' };
  if (url === '') {
    if (SQLITE_NATIVE.has(name)) return { group: 'SQLite (better-sqlite3, native)', where: 'native' };
    if (name === 'parse' || name === 'stringify') return { group: 'JSON (native)', where: 'native' };
    if (name === 'update' || name === 'digest') return { group: 'hashing (native)', where: 'native' };
    return { group: 'other native/builtins', where: 'native' };
  }
  if (url.includes('better-sqlite3')) return { group: 'SQLite (better-sqlite3, native)', where: 'better-sqlite3' };
  if (url.startsWith('node:')) {
    const mod = url
      .replace(/^node:(internal\/)?/, '')
      .split('/')[0]!
      .replace(/\.js$/, '');
    if (mod === 'crypto') return { group: 'hashing (node:crypto)', where: url };
    if (mod === 'zlib') return { group: 'zlib (JS side)', where: url };
    return { group: `node:${mod}`, where: url };
  }
  const o = original(frame);
  if (o) {
    if (o.source.startsWith('node_modules/')) return { group: `dep ${o.source.split('/')[1]}`, where: `${o.source}:${o.line}` };
    return { group: `ours: ${o.source}`, where: `${o.source}:${o.line}` };
  }
  return { group: 'other JS', where: `${url.split('/').pop()}:${frame.lineNumber + 1}` };
}

/** Self time per function and group of one profile. */
export function summarize(file: string, topN = 12): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const parent = new Map(p.nodes.flatMap((n) => (n.children ?? []).map((c) => [c, n.callFrame] as const)));
  const selfUs = new Map<number, number>();
  // Sample i lasts until sample i + 1 (timeDeltas[i + 1]); the last one until the profile's end.
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    const dur = i + 1 < p.samples.length ? p.timeDeltas[i + 1]! : Math.max(0, p.endTime - t);
    selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + dur);
  }
  const groups = new Map<string, number>();
  const fns = new Map<string, { name: string; where: string; group: string; ms: number }>();
  for (const [id, us] of selfUs) {
    let frame = byId.get(id)!;
    let name = frame.functionName || '(anonymous)';
    // A nameless native frame is C++ behind a builtin (e.g. Buffer.byteLength's UTF-8 count): book it to the caller.
    if (!frame.functionName && !frame.url && parent.has(id)) {
      frame = parent.get(id)!;
      name = `${frame.functionName || '(anonymous)'} (native part)`;
    }
    const { group, where } = classify(frame);
    groups.set(group, (groups.get(group) ?? 0) + us / 1000);
    const key = `${name}@${where}`;
    const f = fns.get(key) ?? { name, where, group, ms: 0 };
    f.ms += us / 1000;
    fns.set(key, f);
  }
  return {
    wallMs: (p.endTime - p.startTime) / 1000,
    groups: [...groups].sort((a, b) => b[1] - a[1]),
    top: [...fns.values()]
      .filter((f) => !f.name.startsWith('('))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, topN),
  };
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Markdown: a table of groups (those above 1 % of the thread's time) and a line of the top functions. */
export function formatSummary(title: string, sum: ProfileSummary): string[] {
  const out = [`\n#### ${title} — ${s(sum.wallMs)} profiled`, '| where the time goes (self time) | time | share |', '|---|---|---|'];
  const rest = sum.groups.filter(([, ms]) => ms < sum.wallMs / 100).reduce((a, [, ms]) => a + ms, 0);
  for (const [g, ms] of sum.groups) if (ms >= sum.wallMs / 100) out.push(`| ${g} | ${s(ms)} | ${((ms / sum.wallMs) * 100).toFixed(0)} % |`);
  if (rest > 0) out.push(`| (groups under 1 % each) | ${s(rest)} | ${((rest / sum.wallMs) * 100).toFixed(0)} % |`);
  out.push(`\ntop functions: ${sum.top.map((f) => `\`${f.name}\` ${f.where ? `(${f.where}) ` : ''}${s(f.ms)}`).join(', ')}`);
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const f of process.argv.slice(2)) console.log(formatSummary(f, summarize(f)).join('\n'));
}
