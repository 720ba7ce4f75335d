import { describe, expect, it } from 'vitest';
import { applyRetention, isoWeek, subtractDuration, zoneParts, type RetentionPolicy } from '../../src/engine/retention-policy.js';

const plan = (times: string[], policy: RetentionPolicy, now = '2025-06-30T12:00:00Z') =>
  applyRetention(
    times.map((t, i) => ({ id: `b${i}`, createdAt: t })),
    policy,
    new Date(now),
  );
const kept = (p: ReturnType<typeof plan>) => p.keep.map((d) => d.id).sort();

describe('retention policy (pure)', () => {
  it('keep-last and the latest backup is never removed', () => {
    const p = plan(['2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z', '2025-01-03T00:00:00Z'], { keepLast: 2 });
    expect(kept(p)).toEqual(['b1', 'b2']);
    expect(p.remove.map((d) => d.id)).toEqual(['b0']);
    expect(p.remove[0]!.reasons).toEqual(['matches no keep rule']);
    const q = plan(['2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z'], { keepWithin: '1d' });
    expect(kept(q)).toEqual(['b1']); // latest, although outside the window
    expect(q.keep[0]!.reasons[0]).toMatch(/latest/);
  });

  it('no rule keeps everything', () => {
    expect(kept(plan(['2020-01-01T00:00:00Z', '2021-01-01T00:00:00Z'], {}))).toEqual(['b0', 'b1']);
    expect(kept(plan(['2020-01-01T00:00:00Z', '2021-01-01T00:00:00Z'], { maxBackups: -1, retentionDays: -1 }))).toEqual(['b0', 'b1']);
  });

  it('keep-daily keeps the newest of each of the N most recent days with a backup', () => {
    const times = [
      '2025-03-01T08:00:00Z', // b0
      '2025-03-01T20:00:00Z', // b1 newest of 03-01
      '2025-03-03T09:00:00Z', // b2
      '2025-03-03T10:00:00Z', // b3 newest of 03-03
      '2025-03-04T01:00:00Z', // b4 newest of 03-04
    ];
    const p = plan(times, { keepDaily: 3 });
    expect(kept(p)).toEqual(['b1', 'b3', 'b4']);
    expect(p.keep.find((d) => d.id === 'b1')!.reasons).toContain('daily 2025-03-01');
    expect(p.remove.map((d) => d.id)).toEqual(['b0', 'b2']); // oldest first
  });

  it('month boundary depends on the time zone', () => {
    // 2024-01-31T20:00Z is Feb 1 04:00 in Shanghai.
    const times = ['2024-01-31T10:00:00Z', '2024-01-31T20:00:00Z', '2024-02-10T00:00:00Z'];
    expect(kept(plan(times, { keepMonthly: 2, timezone: 'UTC' }))).toEqual(['b1', 'b2']);
    expect(kept(plan(times, { keepMonthly: 2, timezone: 'Asia/Shanghai' }))).toEqual(['b0', 'b2']);
    expect(kept(plan(times, { keepMonthly: 2, timezone: 'UTC+08:00' }))).toEqual(['b0', 'b2']);
  });

  it('year boundary, and negative offsets', () => {
    // 2024-12-31T18:00Z is 2025-01-01 02:00 at +08:00; 2025-01-01T03:00Z is 2024-12-31 22:00 at -05:00.
    const times = ['2024-06-01T00:00:00Z', '2024-12-31T18:00:00Z', '2025-01-01T03:00:00Z', '2025-03-01T00:00:00Z'];
    expect(kept(plan(times, { keepYearly: 2 }))).toEqual(['b1', 'b3']);
    expect(kept(plan(times, { keepYearly: 2, timezone: 'Asia/Shanghai' }))).toEqual(['b0', 'b3']);
    expect(kept(plan(times, { keepYearly: 2, timezone: 'UTC-05:00' }))).toEqual(['b2', 'b3']);
    expect(kept(plan(times, { keepYearly: 2, timezone: 'America/New_York' }))).toEqual(['b2', 'b3']);
  });

  it('weekly buckets are ISO weeks in the zone', () => {
    expect(isoWeek({ y: 2024, m: 12, d: 30 })).toBe('2025-W01');
    expect(isoWeek({ y: 2021, m: 1, d: 3 })).toBe('2020-W53');
    expect(isoWeek({ y: 2025, m: 6, d: 30 })).toBe('2025-W27');
    // Sunday 2025-06-29T20:00Z is Monday 04:00 in Shanghai: a new week there.
    const times = ['2025-06-28T12:00:00Z', '2025-06-29T20:00:00Z', '2025-06-30T10:00:00Z'];
    expect(kept(plan(times, { keepWeekly: 2 }))).toEqual(['b1', 'b2']);
    expect(kept(plan(times, { keepWeekly: 2, timezone: 'Asia/Shanghai' }))).toEqual(['b0', 'b2']);
  });

  it('keep-within, max-backups and retention days', () => {
    const times = ['2025-05-01T00:00:00Z', '2025-06-01T11:59:00Z', '2025-06-01T12:00:00Z', '2025-06-29T00:00:00Z'];
    expect(kept(plan(times, { keepWithin: '29d' }))).toEqual(['b2', 'b3']);
    expect(kept(plan(times, { retentionDays: 29 }))).toEqual(['b2', 'b3']);
    expect(kept(plan(times, { maxBackups: 3 }))).toEqual(['b1', 'b2', 'b3']);
    expect(kept(plan(times, { keepWithin: '2m' }))).toEqual(['b0', 'b1', 'b2', 'b3']);
    // union of rules: daily 1 plus within 2d
    expect(kept(plan(times, { keepDaily: 1, keepWithin: '2d' }))).toEqual(['b3']);
    expect(subtractDuration(new Date('2025-03-31T00:00:00Z'), '1m').toISOString()).toBe('2025-02-28T00:00:00.000Z');
    expect(subtractDuration(new Date('2025-03-31T00:00:00Z'), '1y2w12h').toISOString()).toBe('2024-03-16T12:00:00.000Z');
    expect(() => subtractDuration(new Date(), '30 days')).toThrow(/not a duration/);
  });

  it('time zones: IANA and offsets, and bad names', () => {
    const t = new Date('2025-01-01T00:30:00Z');
    expect(zoneParts('Asia/Shanghai')(t)).toEqual({ y: 2025, m: 1, d: 1, h: 8 });
    expect(zoneParts('UTC-05:30')(t)).toEqual({ y: 2024, m: 12, d: 31, h: 19 });
    expect(zoneParts('+0545')(t)).toEqual({ y: 2025, m: 1, d: 1, h: 6 });
    expect(() => zoneParts('Mars/Olympus')).toThrow(/unknown time zone/);
  });
});
