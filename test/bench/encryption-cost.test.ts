// The encryption cost is paired per round: a round where the machine was slow for both runs
// must not count as a cost, and the median is over rounds, not over pooled runs.
import { describe, expect, it } from 'vitest';
import { encryptionCost, formatEncryptionCost } from '../../bench/encryption-cost.js';

const m = (scenario: string, wallSeconds: number) => ({ scenario, wallSeconds, cpuSeconds: wallSeconds * 1.5, maxRssMiB: 100 });

describe('encryption cost', () => {
  it('cancels a slower first run: rounds of opposite order pair up by geometric mean', () => {
    // True cost 5 % (encrypted 2.1 s against plain 2.0 s); whichever runs first takes 1.3×.
    const rows = encryptionCost(
      [
        { first: 'plain', plain: [m('full', 2.6), m('restore', 4)], encrypted: [m('full', 2.1), m('restore', 5)] },
        { first: 'encrypted', plain: [m('full', 2)], encrypted: [m('full', 2.73)] },
        { first: 'plain', plain: [m('full', 5.2)], encrypted: [m('full', 4.2)] }, // a slow round for both
        { first: 'encrypted', plain: [m('full', 4)], encrypted: [m('full', 5.46)] },
      ],
      ['full', 'incremental', 'restore'],
    );
    expect(rows.map((r) => r.scenario)).toEqual(['full', 'restore']);
    const full = rows[0]!;
    expect(full.perRound[0]!).toBeLessThan(0); // alone, a round says encryption is faster
    expect(full.perRound[1]!).toBeGreaterThan(0.25); // or 27 % slower
    expect(full.perPair).toHaveLength(2);
    for (const c of full.perPair) expect(c).toBeCloseTo(1 - 2 / 2.1, 6);
    expect(full.throughputCost).toBeCloseTo(1 - 2 / 2.1, 6);
    // One round, no pair: its own ratio.
    expect(rows[1]!.perPair).toEqual([]);
    expect(rows[1]!.throughputCost).toBeCloseTo(0.2, 6);
    const text = formatEncryptionCost(rows);
    expect(text).toMatch(/full .* 4\.8 % .* met/);
    expect(text).toMatch(/restore .* 20\.0 % .* missed/);
  });
});
