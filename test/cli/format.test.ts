// The pure formatting pieces of the CLI: ETA, the progress line, short ids and tables.
import { describe, expect, it } from 'vitest';
import { shortIds } from '../../src/cli/backup-ids.js';
import { etaSeconds, formatEta, progressLine } from '../../src/cli/progress-bar.js';
import { formatTable } from '../../src/cli/table.js';
import type { ProgressEvent } from '../../src/metrics/progress.js';

const MiB = 1024 * 1024;
const ev = (done: number, total: number, ms: number): ProgressEvent => ({
  event: 'progress', op: 'backup', volumeId: 'v', backupId: 'b', bytesDone: done, bytesTotal: total,
  progress: Math.floor((done / total) * 100), elapsedMs: ms, throughputMBps: 0, counters: {},
});

describe('progress line', () => {
  it('ETA: "--" until there is a rate to go by, then the average rate; never Infinity or NaN', () => {
    expect(formatEta(etaSeconds(ev(0, 256 * MiB, 5000)))).toBe('--'); // stalled at the start
    expect(formatEta(etaSeconds(ev(4 * MiB, 256 * MiB, 200)))).toBe('--'); // first instant
    expect(etaSeconds(ev(64 * MiB, 256 * MiB, 2000))).toBe(6);
    expect(formatEta(65)).toBe('1:05');
    expect(formatEta(3 * 3600 + 5)).toBe('3:00:05');
    expect(formatEta(1e9)).toBe('>99h');
    expect(formatEta(Number.POSITIVE_INFINITY)).toBe('--');
    expect(formatEta(etaSeconds(ev(256 * MiB, 256 * MiB, 9000)))).toBe('0:00');
  });

  it('shows done and total in human units with the rate', () => {
    const line = progressLine('backup', ev(64 * MiB, 256 * MiB, 2000));
    expect(line).toMatch(/^backup  \[█{8}░{22}\]  25% \| 64\.0 MiB \/ 256\.0 MiB \| 32\.0 MiB\/s \| ETA 0:06$/);
    expect(line).not.toMatch(/268435456/);
  });
});

describe('short ids and tables', () => {
  it('short ids are 8 characters, longer only where two would collide', () => {
    const m = shortIds(['8ef94dc2-aaaa', '4662abbd-bbbb', '4662abbd-cccc']);
    expect(m.get('8ef94dc2-aaaa')).toBe('8ef94dc2-a'); // all as long as the longest needed
    expect(new Set(m.values()).size).toBe(3);
    expect(shortIds(['8ef94dc2-aaaa', '1234abcd-bbbb']).get('8ef94dc2-aaaa')).toBe('8ef94dc2');
  });

  it('columns line up; right-aligned ones end together', () => {
    const t = formatTable([{ header: 'ID' }, { header: 'TYPE' }, { header: 'SIZE', align: 'right' }], [
      ['a', 'full', '1.0 MiB'],
      ['bbbbbb', 'incremental', '256.0 MiB'],
    ]).split('\n');
    expect(t).toEqual(['ID      TYPE              SIZE', 'a       full           1.0 MiB', 'bbbbbb  incremental  256.0 MiB']);
  });
});
