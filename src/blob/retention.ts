/**
 * The retention policy, pure (no I/O): which backups to keep and which to delete, like restic's `forget
 * --keep-daily/--keep-weekly/--keep-monthly`.
 *
 * Over COMPLETE backups, newest first by createdAt: for each rule with count N, walk the backups and keep a backup
 * whenever its bucket (UTC day `2026-11-26`, ISO week `2026-W48`, UTC month `2026-11`) differs from the previous
 * kept-by-this-rule bucket, until N buckets are kept. So each rule keeps the newest backup of each of the last N
 * buckets *that have a backup* (a gap of days without backups does not use up the count). A backup kept by any
 * rule is kept. The newest complete backup is always kept, whatever the policy.
 *
 * A backup dated more than FUTURE_TOLERANCE_MS after `now` (made on a host whose clock ran ahead) is not trusted:
 * it is neither "the newest complete backup" nor counted by any rule, since it would otherwise take every slot and
 * cost the real backups their place. It is kept (not deleted, it may be sound), with a reason saying why.
 *
 * Incomplete dumps (no manifest) older than `incompleteGraceMs` (a day) are deleted too: younger ones may still be
 * uploading their manifest. Orphan manifests (their dump gone) are treated the same way.
 */
import { BackupError } from '../errors.js';

export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

export interface RetentionItem {
  id: string;
  /** ISO time of the backup (the manifest's createdAt for complete ones). */
  createdAt: string;
  complete: boolean;
  /** ISO time the blob was stored, for the age of incomplete items (defaults to createdAt). */
  uploadedAt?: string;
  /** An orphan manifest (its dump is gone), not a dump. */
  orphan?: boolean;
}

export interface RetentionDecision {
  id: string;
  createdAt: string;
  complete: boolean;
  reasons: string[];
}

export interface RetentionPlan {
  keep: RetentionDecision[];
  remove: RetentionDecision[];
}

export const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * How far after now a backup's date may be and still be trusted: clocks of two hosts (the one that wrote the backup,
 * the one that reads the store) may disagree by seconds; a backup dated later than this came from a clock ahead.
 */
export const FUTURE_TOLERANCE_MS = 5 * 60 * 1000;

/** "6 min", "3 h 12 min", "365 d 0 h": how far ahead a date is. */
function aheadText(ms: number): string {
  const min = Math.floor(ms / 60_000);
  if (min < 60) return `${min} min`;
  if (min < 24 * 60) return `${Math.floor(min / 60)} h ${min % 60} min`;
  return `${Math.floor(min / 1440)} d ${Math.floor((min % 1440) / 60)} h`;
}

export const dayKey = (d: Date) => d.toISOString().slice(0, 10);
export const monthKey = (d: Date) => d.toISOString().slice(0, 7);

/** ISO 8601 week, UTC: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeekKey(d: Date): string {
  const midnight = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  const weekday = (new Date(midnight).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  const monday = midnight - weekday * DAY_MS;
  const year = new Date(monday + 3 * DAY_MS).getUTCFullYear(); // the Thursday's year owns the week
  const jan4 = Date.UTC(year, 0, 4);
  const week1Monday = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * DAY_MS;
  const week = 1 + Math.round((monday - week1Monday) / (7 * DAY_MS));
  return `${year}-W${String(week).padStart(2, '0')}`;
}

const RULES: [keyof RetentionPolicy, (d: Date) => string][] = [
  ['daily', dayKey],
  ['weekly', isoWeekKey],
  ['monthly', monthKey],
];

/**
 * The plan for `items` under `policy` at `now` (see the module comment): every item is either kept, with the rules
 * that keep it, or removed, with why. Pure; prune.ts applies it.
 */
export function planRetention(
  items: RetentionItem[],
  policy: RetentionPolicy,
  now: Date = new Date(),
  opts: { incompleteGraceMs?: number } = {},
): RetentionPlan {
  const grace = opts.incompleteGraceMs ?? DAY_MS;
  const time = (s: string) => Date.parse(s);
  const valid = (i: RetentionItem) => !Number.isNaN(time(i.createdAt));
  const ahead = (i: RetentionItem) => time(i.createdAt) - now.getTime();
  const dated = items.filter((i) => i.complete && !i.orphan && valid(i));
  const future = dated.filter((i) => ahead(i) > FUTURE_TOLERANCE_MS);
  const complete = dated
    .filter((i) => ahead(i) <= FUTURE_TOLERANCE_MS)
    .sort((a, b) => time(b.createdAt) - time(a.createdAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const reasons = new Map<string, string[]>(complete.map((i) => [i.id, []]));

  if (complete.length > 0) reasons.get(complete[0]!.id)!.push('newest complete backup');
  for (const [rule, key] of RULES) {
    let left = Math.max(0, Math.floor(policy[rule]));
    let last: string | null = null;
    for (const item of complete) {
      if (left <= 0) break;
      const k = key(new Date(item.createdAt));
      if (k === last) continue;
      last = k;
      left--;
      reasons.get(item.id)!.push(`${rule} ${k}`);
    }
  }

  const keep: RetentionDecision[] = [];
  const remove: RetentionDecision[] = [];
  const decide = (i: RetentionItem, r: string[], kept: boolean) =>
    (kept ? keep : remove).push({ id: i.id, createdAt: i.createdAt, complete: i.complete && !i.orphan, reasons: r });

  for (const item of complete) {
    const r = reasons.get(item.id)!;
    if (r.length > 0) decide(item, r, true);
    else decide(item, ['not kept by any rule'], false);
  }
  for (const item of future) {
    reasons.set(item.id, []);
    decide(item, [`dated in the future (${aheadText(ahead(item))} ahead: a clock ahead?): counted by no rule, not deleted`], true);
  }
  for (const item of items) {
    if (reasons.has(item.id)) continue;
    const what = item.orphan ? 'manifest without its dump' : item.complete ? 'backup with an unreadable date' : 'incomplete (no valid manifest)';
    const stored = time(item.uploadedAt ?? item.createdAt);
    const age = now.getTime() - stored;
    if (!Number.isNaN(stored) && age > grace) decide(item, [`${what}, older than ${Math.round(grace / 3_600_000)} h`], false);
    else decide(item, [`${what}, but younger than ${Math.round(grace / 3_600_000)} h: may still be uploading`], true);
  }
  return { keep, remove };
}

/** "daily=7,weekly=4,monthly=6" (any subset, any order) → policy; a CONFIG error names what is wrong. */
export function parseRetentionSpec(spec: string, name = 'BACKUP_RETENTION'): RetentionPolicy {
  const policy: RetentionPolicy = { daily: 0, weekly: 0, monthly: 0 };
  const seen = new Set<string>();
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(daily|weekly|monthly)\s*[=:]\s*(\d+)$/i.exec(part);
    if (!m) throw new BackupError('CONFIG', `${name}: "${part}" is not daily=N, weekly=N or monthly=N (e.g. "daily=7,weekly=4,monthly=6")`);
    const rule = m[1]!.toLowerCase() as keyof RetentionPolicy;
    if (seen.has(rule)) throw new BackupError('CONFIG', `${name}: ${rule} is given twice`);
    seen.add(rule);
    policy[rule] = Number(m[2]);
  }
  if (seen.size === 0) throw new BackupError('CONFIG', `${name} is empty: give e.g. "daily=7,weekly=4,monthly=6"`);
  return policy;
}

export const describePolicy = (p: RetentionPolicy) => `daily=${p.daily}, weekly=${p.weekly}, monthly=${p.monthly}`;
