// Retention as the service's docs define it (control-plane-contract.md §3.4).
import { describe, expect, it } from 'vitest';
import { applyRetention, validateRetentionPolicy, type RetentionPolicy } from '../../src/index.js';

const now = new Date('2025-06-20T12:00:00Z');
const items = (list: [string, boolean?][]) => list.map(([t, automatic], i) => ({ id: `b${i}`, createdAt: t, ...(automatic === undefined ? {} : { automatic }) }));
const kept = (p: ReturnType<typeof applyRetention>) => p.keep.map((d) => d.id).sort();
const refused = (p: RetentionPolicy) => {
  try {
    validateRetentionPolicy(p);
  } catch (e) {
    return e as { code: string; message: string; details: Record<string, string> };
  }
  throw new Error(`accepted ${JSON.stringify(p)}`);
};

describe('retention as the service defines it', () => {
  it('refuses the exclusive combinations and the out-of-range values with the documented codes', () => {
    expect(refused({ maxBackups: 5, retentionDays: 7 })).toMatchObject({ code: 'BV.BadInput', details: { vbsCode: 'AutoBackup.0107', cbrCode: 'BackupService.9900' } });
    expect(refused({ retentionDays: 7, dayBackups: 3, timezone: 'UTC+08:00' }).message).toMatch(/retention_duration_days cannot be applied together with dayBackups/);
    expect(refused({ maxBackups: 100000 }).details.vbsCode).toBe('AutoBackup.0107');
    expect(refused({ maxBackups: -2 }).message).toMatch(/max_backups -2 is out of range/);
    expect(refused({ retentionDays: 100000 }).details.vbsCode).toBe('AutoBackup.0108');
    expect(refused({ dayBackups: 101, timezone: 'UTC' }).message).toMatch(/dayBackups 101 is out of range/);
    expect(refused({ weekBackups: 2 }).message).toMatch(/a time zone is mandatory with weekBackups/);
    expect(refused({ remainFirstBackupOfCurMonth: 'Y' as unknown as boolean }).details.vbsCode).toBe('AutoBackup.0105');
    // -1 and 0 are "unset", as the docs' examples use them.
    expect(() => validateRetentionPolicy({ maxBackups: -1, retentionDays: 30 })).not.toThrow();
    expect(() => validateRetentionPolicy({ retentionDays: 1, dayBackups: 0, weekBackups: 0 })).not.toThrow();
    expect(() => validateRetentionPolicy({ maxBackups: 99999, dayBackups: 100, timezone: 'UTC+08:00' })).not.toThrow();
  });

  it('max_backups counts only automatic backups; manual ones are kept', () => {
    const list = items([
      ['2025-06-10T00:00:00Z', true],
      ['2025-06-11T00:00:00Z', false],
      ['2025-06-12T00:00:00Z', true],
      ['2025-06-13T00:00:00Z', true],
      ['2025-06-14T00:00:00Z', false],
    ]);
    const p = applyRetention(list, { maxBackups: 2 }, now);
    expect(kept(p)).toEqual(['b1', 'b2', 'b3', 'b4']);
    expect(p.remove.map((d) => d.id)).toEqual(['b0']);
    expect(p.keep.find((d) => d.id === 'b1')!.reasons).toContain('manual backup (max_backups counts only automatic backups)');
    expect(p.keep.find((d) => d.id === 'b2')!.reasons).toContain('max-backups 2/2');
  });

  it('day backups need the time zone and follow it; remain_first_backup_of_curMonth keeps the first of this month', () => {
    // 2025-06-19T20:00Z is 06-20 04:00 at UTC+08:00: the same day as the next one there, not in UTC.
    const list = items([['2025-06-01T10:00:00Z'], ['2025-06-19T10:00:00Z'], ['2025-06-19T20:00:00Z'], ['2025-06-20T02:00:00Z']]);
    expect(kept(applyRetention(list, { dayBackups: 2, timezone: 'UTC' }, now))).toEqual(['b2', 'b3']);
    expect(kept(applyRetention(list, { dayBackups: 2, timezone: 'UTC+08:00' }, now))).toEqual(['b1', 'b3']);
    const first = applyRetention(list, { dayBackups: 1, remainFirstBackupOfCurMonth: true, timezone: 'UTC' }, now);
    expect(kept(first)).toEqual(['b0', 'b3']);
    expect(first.keep.find((d) => d.id === 'b0')!.reasons).toEqual(['first backup of 2025-06']);
  });
});
