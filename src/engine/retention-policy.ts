// Retention as a pure function: (backups with their creation times, a policy, now, a time
// zone) → which to keep and which to remove, each with its reasons. No I/O; prune.ts applies it.
//
// Rules (a backup is kept when any rule keeps it; with no rule set, everything is kept):
//   keepLast N                 the N newest backups
//   keepDaily/Weekly/Monthly/Yearly N
//                              restic semantics: walking from newest to oldest, the newest
//                              backup of each of the N most recent days (ISO weeks, months,
//                              years) that have a backup, in the given time zone
//   keepWithin DURATION        every backup created within DURATION before now
//                              ("30d", "12h", "2w", "1y", "1y6m": y years, m months, w weeks,
//                              d days, h hours; calendar arithmetic in UTC)
//   maxBackups N               the service's max_backups: the N newest automatic backups
//                              (-1 or 0: unset). Only automatic backups count and can be
//                              removed by it: a manual one (automatic false) is kept.
//   retentionDays D            the service's retention_duration_days: created within D×24 h
//                              before now (-1 or 0: unset)
//   dayBackups/weekBackups/monthBackups/yearBackups N
//                              the service's day_backups… (0–100): as keepDaily…, but the
//                              time zone is mandatory, as the docs require
//   remainFirstBackupOfCurMonth
//                              VBS remain_first_backup_of_curMonth: the first (oldest) backup
//                              of the current month, in the time zone (default UTC)
// The service's rules are checked first (validateRetentionPolicy): max_backups and
// retention_duration_days exclude each other, retention_duration_days excludes the
// day/week/month/year rules, and the documented ranges hold; a breach is refused with
// BackupService.9900 (parameter verification failed) and the VBS policy code
// (AutoBackup.0107 retention number, 0108 retention days, 0105 remain-first).
// A volume's latest backup is never removed. keep-within and retentionDays count back from
// `now` (restic counts keep-within from the newest snapshot; the service's retention period
// is a period of time, so now is the natural origin for both here).
import { BlockvaultError, ErrorCodes } from '../errors.js';

export interface RetentionPolicy {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: string;
  maxBackups?: number;
  retentionDays?: number;
  dayBackups?: number;
  weekBackups?: number;
  monthBackups?: number;
  yearBackups?: number;
  remainFirstBackupOfCurMonth?: boolean;
  /** IANA name (Asia/Shanghai) or a fixed offset (UTC+08:00, +0530, UTC). Default UTC, except
   *  that the service's day/week/month/year rules require one. */
  timezone?: string;
}

export interface RetentionItem {
  id: string;
  createdAt: string | Date;
  /** Made by a policy. Unknown (older manifests) counts as automatic. */
  automatic?: boolean;
}

function refuse(message: string, vbsCode: string, hint: string): BlockvaultError {
  return new BlockvaultError(ErrorCodes.badInput, message, { hint, details: { vbsCode, cbrCode: 'BackupService.9900' } });
}

/** Refuses a policy the service's docs do not allow (control-plane-contract.md §3.4). */
export function validateRetentionPolicy(p: RetentionPolicy): void {
  const int = (n: number | undefined) => n === undefined || Number.isInteger(n);
  const max = p.maxBackups;
  if (!int(max) || (max !== undefined && (max < -1 || max > 99999))) {
    throw refuse(`max_backups ${max} is out of range`, 'AutoBackup.0107', 'give -1 (no limit) or 1 to 99999');
  }
  const days = p.retentionDays;
  if (!int(days) || (days !== undefined && (days < -1 || days > 99999))) {
    throw refuse(`retention_duration_days ${days} is out of range`, 'AutoBackup.0108', 'give -1 (no limit) or 1 to 99999');
  }
  const long = (['dayBackups', 'weekBackups', 'monthBackups', 'yearBackups'] as const).filter((k) => {
    const n = p[k];
    if (!int(n) || (n !== undefined && (n < 0 || n > 100))) {
      throw refuse(`${k} ${n} is out of range`, 'AutoBackup.0107', 'give 0 to 100');
    }
    return set(n);
  });
  if (set(max) && set(days)) {
    throw refuse('max_backups and retention_duration_days cannot both be specified', 'AutoBackup.0107', 'keep one of them (the other -1 or unset)');
  }
  if (set(days) && long.length) {
    throw refuse(`retention_duration_days cannot be applied together with ${long.join(', ')}`, 'AutoBackup.0108', 'use either a retention period or day/week/month/year backups');
  }
  if (long.length && (p.timezone === undefined || p.timezone.trim() === '')) {
    throw refuse(`a time zone is mandatory with ${long.join(', ')}`, 'AutoBackup.0107', 'give the time zone, e.g. UTC+08:00');
  }
  if (p.remainFirstBackupOfCurMonth !== undefined && typeof p.remainFirstBackupOfCurMonth !== 'boolean') {
    throw refuse('remain_first_backup_of_curMonth must be Y or N', 'AutoBackup.0105', 'give true (Y) or false (N)');
  }
}

export interface RetentionDecision {
  id: string;
  createdAt: string;
  keep: boolean;
  reasons: string[];
}

export interface RetentionPlan {
  /** Newest first. */
  keep: RetentionDecision[];
  /** Oldest first: the order prune deletes in. */
  remove: RetentionDecision[];
}

const set = (n: number | undefined): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;

export function hasRetentionRule(p: RetentionPolicy): boolean {
  return (
    set(p.keepLast) ||
    set(p.keepDaily) ||
    set(p.keepWeekly) ||
    set(p.keepMonthly) ||
    set(p.keepYearly) ||
    set(p.maxBackups) ||
    set(p.retentionDays) ||
    set(p.dayBackups) ||
    set(p.weekBackups) ||
    set(p.monthBackups) ||
    set(p.yearBackups) ||
    p.remainFirstBackupOfCurMonth === true ||
    (p.keepWithin !== undefined && p.keepWithin !== '')
  );
}

export function applyRetention(items: RetentionItem[], policy: RetentionPolicy, now: Date): RetentionPlan {
  validateRetentionPolicy(policy);
  const zone = zoneParts(policy.timezone);
  const withinCutoff = policy.keepWithin ? subtractDuration(now, policy.keepWithin) : undefined;
  const daysCutoff = set(policy.retentionDays) ? now.getTime() - policy.retentionDays * 86_400_000 : undefined;
  const sorted = items
    .map((it) => {
      const t = it.createdAt instanceof Date ? it.createdAt : new Date(it.createdAt);
      if (Number.isNaN(t.getTime())) throw new BlockvaultError(ErrorCodes.badInput, `backup ${it.id} has no valid creation time`);
      return { id: it.id, t, automatic: it.automatic !== false };
    })
    .sort((a, b) => b.t.getTime() - a.t.getTime() || b.id.localeCompare(a.id)); // newest first
  const anyRule = hasRetentionRule(policy);

  const buckets: { name: string; count: number; key: (p: ZonedParts) => string }[] = [];
  if (set(policy.keepDaily)) buckets.push({ name: 'daily', count: policy.keepDaily, key: (p) => `${p.y}-${pad(p.m)}-${pad(p.d)}` });
  if (set(policy.keepWeekly)) buckets.push({ name: 'weekly', count: policy.keepWeekly, key: (p) => isoWeek(p) });
  if (set(policy.keepMonthly)) buckets.push({ name: 'monthly', count: policy.keepMonthly, key: (p) => `${p.y}-${pad(p.m)}` });
  if (set(policy.keepYearly)) buckets.push({ name: 'yearly', count: policy.keepYearly, key: (p) => `${p.y}` });
  if (set(policy.dayBackups)) buckets.push({ name: 'day_backups', count: policy.dayBackups, key: (p) => `${p.y}-${pad(p.m)}-${pad(p.d)}` });
  if (set(policy.weekBackups)) buckets.push({ name: 'week_backups', count: policy.weekBackups, key: (p) => isoWeek(p) });
  if (set(policy.monthBackups)) buckets.push({ name: 'month_backups', count: policy.monthBackups, key: (p) => `${p.y}-${pad(p.m)}` });
  if (set(policy.yearBackups)) buckets.push({ name: 'year_backups', count: policy.yearBackups, key: (p) => `${p.y}` });
  const last = new Map<string, string>();
  // The first backup of the current month (oldest in it): sorted is newest first.
  const nowParts = zone(now);
  const month = `${nowParts.y}-${pad(nowParts.m)}`;
  const firstOfMonth = policy.remainFirstBackupOfCurMonth
    ? [...sorted].reverse().find((x) => {
        const p = zone(x.t);
        return `${p.y}-${pad(p.m)}` === month;
      })?.id
    : undefined;
  let automaticSeen = 0;

  const decisions: RetentionDecision[] = sorted.map(({ id, t, automatic }, i) => {
    const reasons: string[] = [];
    if (i === 0) reasons.push('latest backup of the volume (never pruned)');
    if (!anyRule) reasons.push('no retention rule set (kept)');
    if (set(policy.keepLast) && i < policy.keepLast) reasons.push(`last ${i + 1}/${policy.keepLast}`);
    if (set(policy.maxBackups)) {
      if (!automatic) reasons.push('manual backup (max_backups counts only automatic backups)');
      else if (++automaticSeen <= policy.maxBackups) reasons.push(`max-backups ${automaticSeen}/${policy.maxBackups}`);
    }
    if (id === firstOfMonth) reasons.push(`first backup of ${month}`);
    const parts = zone(t);
    for (const b of buckets) {
      if (b.count <= 0) continue;
      const k = b.key(parts);
      if (last.get(b.name) !== k) {
        last.set(b.name, k);
        b.count--;
        reasons.push(`${b.name} ${k}`);
      }
    }
    if (withinCutoff && t.getTime() >= withinCutoff.getTime()) reasons.push(`within ${policy.keepWithin}`);
    if (daysCutoff !== undefined && t.getTime() >= daysCutoff) reasons.push(`within retention ${policy.retentionDays} days`);
    const keep = reasons.length > 0;
    if (!keep) reasons.push('matches no keep rule');
    return { id, createdAt: t.toISOString(), keep, reasons };
  });
  return {
    keep: decisions.filter((d) => d.keep),
    remove: decisions.filter((d) => !d.keep).reverse(),
  };
}

// ---- time zones

export interface ZonedParts {
  y: number;
  m: number;
  d: number;
  h: number;
}

const pad = (n: number) => String(n).padStart(2, '0');

const OFFSET = /^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$/i;

/** A function from an instant to its calendar parts in the zone. Throws on an unknown zone. */
export function zoneParts(tz: string | undefined): (t: Date) => ZonedParts {
  const name = (tz ?? '').trim();
  if (name === '' || /^(UTC|GMT|Z)$/i.test(name)) return fixed(0);
  const m = OFFSET.exec(name);
  if (m) {
    const hours = Number(m[2]);
    const mins = Number(m[3] ?? 0);
    if (hours > 14 || mins > 59) throw badZone(name);
    return fixed((m[1] === '-' ? -1 : 1) * (hours * 60 + mins));
  }
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      hourCycle: 'h23',
    });
  } catch {
    throw badZone(name);
  }
  return (t) => {
    const p: Record<string, number> = {};
    for (const part of fmt.formatToParts(t)) if (part.type !== 'literal') p[part.type] = Number(part.value);
    return { y: p.year!, m: p.month!, d: p.day!, h: p.hour! % 24 };
  };
}

function fixed(offsetMinutes: number): (t: Date) => ZonedParts {
  return (t) => {
    const s = new Date(t.getTime() + offsetMinutes * 60_000);
    return { y: s.getUTCFullYear(), m: s.getUTCMonth() + 1, d: s.getUTCDate(), h: s.getUTCHours() };
  };
}

function badZone(name: string): BlockvaultError {
  return new BlockvaultError(ErrorCodes.badInput, `unknown time zone ${JSON.stringify(name)}`, {
    hint: 'use an IANA name (Asia/Shanghai, Europe/Berlin) or an offset (UTC+08:00, UTC-05:30)',
  });
}

/** ISO 8601 week of a calendar date: "2025-W01" (the week's year may differ from the date's). */
export function isoWeek(p: { y: number; m: number; d: number }): string {
  const date = Date.UTC(p.y, p.m - 1, p.d);
  const dow = (new Date(date).getUTCDay() + 6) % 7; // Monday 0
  const thursday = new Date(date + (3 - dow) * 86_400_000);
  const year = thursday.getUTCFullYear();
  const week = 1 + Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 / 7);
  return `${year}-W${pad(week)}`;
}

// ---- durations

const DURATION = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?$/;

/** now minus a duration like "30d", "12h", "2w", "1y", "1y6m". */
export function subtractDuration(now: Date, text: string): Date {
  const m = DURATION.exec(text.trim().toLowerCase());
  if (!m || text.trim() === '') {
    throw new BlockvaultError(ErrorCodes.badInput, `not a duration: ${JSON.stringify(text)}`, {
      hint: 'use e.g. 30d, 12h, 2w, 6m (months), 1y or 1y6m',
    });
  }
  const [y, mo, w, d, h] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number];
  const t = new Date(now.getTime());
  if (y || mo) {
    // Calendar months: clamp the day (Mar 31 − 1 month = Feb 28/29), as restic does.
    const day = t.getUTCDate();
    t.setUTCDate(1);
    t.setUTCFullYear(t.getUTCFullYear() - y, t.getUTCMonth() - mo, 1);
    const dim = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 0)).getUTCDate();
    t.setUTCDate(Math.min(day, dim));
  }
  return new Date(t.getTime() - (w * 7 + d) * 86_400_000 - h * 3_600_000);
}
