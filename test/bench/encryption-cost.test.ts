// The encryption cost is paired per round: a round where the machine was slow for both runs
// must not count as a cost, and the median is over rounds, not over pooled runs.
import { describe, expect, it } from 'vitest';
import { encryptionCost, formatEncryptionCost } from '../../bench/encryption-cost.js';

const m = (scenario: string, wallSeconds: number) => ({ scenario, wallSeconds, cpuSeconds: wallSeconds * 1.5, maxRssMiB: 100 });

describe('encryption cost', () => {
  it('takes 1 − plain/encrypted per round, then the median, and says met or missed', () => {
    const rows = encryptionCost(
      [
        { plain: [m('full', 2), m('restore', 4)], encrypted: [m('full', 2.1), m('restore', 5)] },
        { plain: [m('full', 4)], encrypted: [m('full', 4.4)] }, // a slow round for both
        { plain: [m('full', 2)], encrypted: [m('full', 2.5)] },
      ],
      ['full', 'incremental', 'restore'],
    );
    expect(rows.map((r) => r.scenario)).toEqual(['full', 'restore']);
    const full = rows[0]!;
    expect(full.perRound.map((x) => +x.toFixed(4))).toEqual([0.0476, 0.0909, 0.2]);
    expect(full.throughputCost).toBeCloseTo(1 - 4 / 4.4, 6);
    expect(full.plainSeconds).toBe(2);
    expect(full.encryptedSeconds).toBe(2.5);
    expect(rows[1]!.throughputCost).toBeCloseTo(0.2, 6);
    const text = formatEncryptionCost(rows);
    expect(text).toMatch(/full .* 9\.1 % .* met/);
    expect(text).toMatch(/restore .* 20\.0 % .* missed/);
  });
});
