/** The pure retention policy (restic `forget`-like) and its env spec. */
import { describe, expect, it } from 'vitest';
import { isoWeekKey, parseRetentionSpec, planRetention, type RetentionItem } from '../../src/blob/retention.js';

const item = (createdAt: string, complete = true, extra: Partial<RetentionItem> = {}): RetentionItem => ({ id: createdAt, createdAt, complete, ...extra });
const ids = (xs: { id: string }[]) => xs.map((x) => x.id).sort();
const NOW = new Date('2026-03-20T12:00:00.000Z');

describe('isoWeekKey', () => {
  it('follows ISO 8601 (Monday weeks, week 1 holds the first Thursday), in UTC', () => {
    expect(isoWeekKey(new Date('2026-01-01T00:00:00Z'))).toBe('2026-W01'); // Thursday
    expect(isoWeekKey(new Date('2025-12-29T00:00:00Z'))).toBe('2026-W01'); // Monday of that week
    expect(isoWeekKey(new Date('2025-12-28T23:59:59Z'))).toBe('2025-W52'); // Sunday before
    expect(isoWeekKey(new Date('2027-01-01T00:00:00Z'))).toBe('2026-W53'); // Friday: 2026 has 53 weeks
    expect(isoWeekKey(new Date('2027-01-04T00:00:00Z'))).toBe('2027-W01');
    expect(isoWeekKey(new Date('2021-01-03T12:00:00Z'))).toBe('2020-W53');
    expect(isoWeekKey(new Date('2026-03-09T00:00:00Z'))).toBe('2026-W11');
    expect(isoWeekKey(new Date('2026-03-08T23:00:00Z'))).toBe('2026-W10');
  });
});

describe('planRetention', () => {
  it('daily N keeps the newest backup of each of the last N days that have one', () => {
    const items = [
      item('2026-03-10T02:00:00.000Z'),
      item('2026-03-10T14:00:00.000Z'),
      item('2026-03-09T02:00:00.000Z'),
      // no backup on 03-08: the gap does not use up the count
      item('2026-03-07T14:00:00.000Z'),
      item('2026-03-07T02:00:00.000Z'),
      item('2026-03-06T02:00:00.000Z'),
    ];
    const p = planRetention(items, { daily: 3, weekly: 0, monthly: 0 }, NOW);
    expect(ids(p.keep)).toEqual(['2026-03-07T14:00:00.000Z', '2026-03-09T02:00:00.000Z', '2026-03-10T14:00:00.000Z']);
    expect(ids(p.remove)).toEqual(['2026-03-06T02:00:00.000Z', '2026-03-07T02:00:00.000Z', '2026-03-10T02:00:00.000Z']);
    expect(p.keep.find((k) => k.id === '2026-03-10T14:00:00.000Z')!.reasons).toEqual(['newest complete backup', 'daily 2026-03-10']);
  });

  it('rules combine (a backup kept by any rule is kept), weekly by ISO week, monthly by UTC month', () => {
    const items = [
      '2026-03-10T02:00:00.000Z', // W11, March
      '2026-03-08T02:00:00.000Z', // W10 (Sunday)
      '2026-03-02T02:00:00.000Z', // W10 (Monday)
      '2026-02-27T02:00:00.000Z', // W09, February
      '2026-02-03T02:00:00.000Z', // W06, February
      '2026-01-31T23:59:59.000Z', // W05, January
      '2025-12-31T02:00:00.000Z', // 2026-W01, December 2025
    ].map((t) => item(t));
    const p = planRetention(items, { daily: 1, weekly: 2, monthly: 3 }, NOW);
    expect(ids(p.keep)).toEqual(['2026-01-31T23:59:59.000Z', '2026-02-27T02:00:00.000Z', '2026-03-08T02:00:00.000Z', '2026-03-10T02:00:00.000Z']);
    const reasons = Object.fromEntries(p.keep.map((k) => [k.id, k.reasons]));
    expect(reasons['2026-03-10T02:00:00.000Z']).toEqual(['newest complete backup', 'daily 2026-03-10', 'weekly 2026-W11', 'monthly 2026-03']);
    expect(reasons['2026-03-08T02:00:00.000Z']).toEqual(['weekly 2026-W10']);
    expect(reasons['2026-02-27T02:00:00.000Z']).toEqual(['monthly 2026-02']);
    expect(reasons['2026-01-31T23:59:59.000Z']).toEqual(['monthly 2026-01']);
    expect(p.remove.every((r) => r.reasons[0] === 'not kept by any rule')).toBe(true);
  });

  it('never deletes the newest complete backup, even with every count at 0', () => {
    const items = [
      item('2026-03-01T00:00:00.000Z'),
      item('2026-03-02T00:00:00.000Z'),
      item('2026-03-03T00:00:00.000Z', false, { uploadedAt: '2026-03-03T00:00:00.000Z' }),
    ];
    const p = planRetention(items, { daily: 0, weekly: 0, monthly: 0 }, NOW);
    expect(ids(p.keep)).toEqual(['2026-03-02T00:00:00.000Z']);
    // The incomplete one is newer but is not a backup: it goes (older than a day), the newest COMPLETE one stays.
    expect(ids(p.remove)).toEqual(['2026-03-01T00:00:00.000Z', '2026-03-03T00:00:00.000Z']);
  });

  it('incomplete dumps and orphan manifests go only when older than a day', () => {
    const items = [
      item('2026-03-19T00:00:00.000Z'),
      item('old-partial', false, { createdAt: '2026-03-18T11:00:00.000Z', uploadedAt: '2026-03-18T11:00:00.000Z' }),
      item('fresh-partial', false, { createdAt: '2026-03-20T11:00:00.000Z', uploadedAt: '2026-03-20T11:00:00.000Z' }),
      item('old-orphan', false, { createdAt: '2026-03-01T00:00:00.000Z', orphan: true }),
      item('fresh-orphan', false, { createdAt: '2026-03-20T11:59:00.000Z', orphan: true }),
    ];
    const p = planRetention(items, { daily: 7, weekly: 0, monthly: 0 }, NOW);
    expect(ids(p.remove)).toEqual(['old-orphan', 'old-partial']);
    expect(ids(p.keep)).toEqual(['2026-03-19T00:00:00.000Z', 'fresh-orphan', 'fresh-partial']);
    expect(p.remove.find((r) => r.id === 'old-partial')!.reasons[0]).toMatch(/^incomplete \(no valid manifest\), older than 24 h$/);
    expect(p.keep.find((r) => r.id === 'fresh-partial')!.reasons[0]).toMatch(/may still be uploading/);
  });

  it('a backup dated in the future takes no keep slot and never costs a real one (the newest real one stays)', () => {
    const future = item('2027-03-20T12:00:00.000Z'); // a host whose clock ran a year ahead
    const items = [item('2026-03-18T02:00:00.000Z'), item('2026-03-19T02:00:00.000Z'), future, item('2026-03-20T11:00:00.000Z')];
    for (const policy of [
      { daily: 1, weekly: 0, monthly: 0 },
      { daily: 0, weekly: 1, monthly: 1 },
    ]) {
      const p = planRetention(items, policy, NOW);
      const newest = p.keep.find((k) => k.id === '2026-03-20T11:00:00.000Z');
      expect(newest?.reasons[0], JSON.stringify(policy)).toBe('newest complete backup');
      const ahead = p.keep.find((k) => k.id === future.id);
      expect(ahead?.reasons).toEqual([expect.stringMatching(/^dated in the future \(365 d 0 h ahead: a clock ahead\?\): counted by no rule, not deleted$/)]);
      expect(p.remove.map((r) => r.id)).not.toContain(future.id);
    }
    // Five minutes ahead is clock jitter, not a clock ahead: such a backup is the newest.
    const jitter = planRetention([item('2026-03-20T12:04:00.000Z'), item('2026-03-20T11:00:00.000Z')], { daily: 1, weekly: 0, monthly: 0 }, NOW);
    expect(ids(jitter.keep)).toEqual(['2026-03-20T12:04:00.000Z']);
  });

  it('is deterministic for equal times and ignores input order', () => {
    const a = [item('2026-03-10T02:00:00.000Z'), { ...item('2026-03-10T02:00:00.000Z'), id: 'b' }, item('2026-03-09T02:00:00.000Z')];
    const p1 = planRetention(a, { daily: 1, weekly: 0, monthly: 0 }, NOW);
    const p2 = planRetention([...a].reverse(), { daily: 1, weekly: 0, monthly: 0 }, NOW);
    expect(ids(p1.keep)).toEqual(ids(p2.keep));
    expect(p1.keep).toHaveLength(1);
  });

  it('an empty store plans nothing', () => {
    expect(planRetention([], { daily: 7, weekly: 4, monthly: 6 }, NOW)).toEqual({ keep: [], remove: [] });
  });
});

describe('parseRetentionSpec', () => {
  it('parses any subset in any order', () => {
    expect(parseRetentionSpec('daily=7,weekly=4,monthly=6')).toEqual({ daily: 7, weekly: 4, monthly: 6 });
    expect(parseRetentionSpec(' monthly = 12 , daily=3 ')).toEqual({ daily: 3, weekly: 0, monthly: 12 });
    expect(parseRetentionSpec('weekly:2')).toEqual({ daily: 0, weekly: 2, monthly: 0 });
  });

  it('rejects what it does not understand, naming the variable', () => {
    expect(() => parseRetentionSpec('daily=7,yearly=2')).toThrow(/BACKUP_RETENTION: "yearly=2"/);
    expect(() => parseRetentionSpec('daily=-1')).toThrow(/BACKUP_RETENTION/);
    expect(() => parseRetentionSpec('daily=1,daily=2')).toThrow(/twice/);
    expect(() => parseRetentionSpec(' , ')).toThrow(/empty/);
  });
});
