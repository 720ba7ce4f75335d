// Issue 11's yardstick: what encryption costs, as the ratio of an encrypted vault's run to a
// plain vault's run of the same command on the same bytes, both in the same round (`--encrypt
// pair`: the two run one after the other, their order rotating with the round), then the median
// over rounds. Throughput cost = 1 − plain wall / encrypted wall; the target is at most 10 %.
import { median } from './ceilings.js';
import { formatTable } from './report.js';

export interface CostMeasure {
  scenario: string;
  wallSeconds: number;
  cpuSeconds: number;
  maxRssMiB: number | undefined;
}

export interface CostRound {
  plain: CostMeasure[];
  encrypted: CostMeasure[];
}

export interface CostRow {
  scenario: string;
  plainSeconds: number;
  encryptedSeconds: number;
  plainCpuSeconds: number;
  encryptedCpuSeconds: number;
  plainRssMiB: number | undefined;
  encryptedRssMiB: number | undefined;
  /** Median over rounds of 1 − plain wall / encrypted wall. */
  throughputCost: number;
  perRound: number[];
}

export const ENCRYPTION_COST_TARGET = 0.1;

const med = (xs: (number | undefined)[]): number | undefined => {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return v.length ? median(v) : undefined;
};

export function encryptionCost(rounds: CostRound[], scenarios: readonly string[]): CostRow[] {
  const rows: CostRow[] = [];
  for (const sc of scenarios) {
    const pairs = rounds.flatMap((r) => {
      const p = r.plain.find((m) => m.scenario === sc);
      const e = r.encrypted.find((m) => m.scenario === sc);
      return p && e ? [{ p, e }] : [];
    });
    if (!pairs.length) continue;
    const perRound = pairs.map(({ p, e }) => 1 - p.wallSeconds / e.wallSeconds);
    rows.push({
      scenario: sc,
      plainSeconds: med(pairs.map((x) => x.p.wallSeconds))!,
      encryptedSeconds: med(pairs.map((x) => x.e.wallSeconds))!,
      plainCpuSeconds: med(pairs.map((x) => x.p.cpuSeconds))!,
      encryptedCpuSeconds: med(pairs.map((x) => x.e.cpuSeconds))!,
      plainRssMiB: med(pairs.map((x) => x.p.maxRssMiB)),
      encryptedRssMiB: med(pairs.map((x) => x.e.maxRssMiB)),
      throughputCost: median(perRound),
      perRound,
    });
  }
  return rows;
}

export function formatEncryptionCost(rows: CostRow[]): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  return formatTable(
    ['scenario', 'plain s', 'encrypted s', 'plain CPU s', 'enc CPU s', 'plain RSS MiB', 'enc RSS MiB', 'throughput cost (paired)', 'per round', 'target ≤ 10 %'],
    rows.map((r) => [
      r.scenario,
      r.plainSeconds,
      r.encryptedSeconds,
      r.plainCpuSeconds,
      r.encryptedCpuSeconds,
      r.plainRssMiB,
      r.encryptedRssMiB,
      pct(r.throughputCost),
      r.perRound.map(pct).join(', '),
      r.throughputCost <= ENCRYPTION_COST_TARGET ? 'met' : 'missed',
    ]),
    { digits: 2 },
  );
}
