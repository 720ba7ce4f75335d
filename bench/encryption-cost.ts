// Issue 11's yardstick: what encryption costs, as the ratio of a plain vault's run to an
// encrypted vault's run of the same command on the same bytes, both in the same round (`--encrypt
// pair`: the two run one after the other, their order alternating with the round). Throughput
// cost = 1 − plain wall / encrypted wall; the target is at most 10 %.
//
// Whichever runs first in a round was measured up to 30 % slower, plain or encrypted (a machine
// effect of the round's start, not of either vault). So two consecutive rounds, one of each
// order, make a pair, and the pair's ratio is the geometric mean of its two rounds' ratios: a
// factor that slows the first run cancels out. The cost is the median over pairs.
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
  /** Which ran first in the round. */
  first: 'plain' | 'encrypted';
}

export interface CostRow {
  scenario: string;
  plainSeconds: number;
  encryptedSeconds: number;
  plainCpuSeconds: number;
  encryptedCpuSeconds: number;
  plainRssMiB: number | undefined;
  encryptedRssMiB: number | undefined;
  /** Median over pairs of rounds (one of each order) of 1 − plain wall / encrypted wall. */
  throughputCost: number;
  perPair: number[];
  /** 1 − plain / encrypted per round, first-run effect included. */
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
    const rs = rounds.flatMap((r) => {
      const p = r.plain.find((m) => m.scenario === sc);
      const e = r.encrypted.find((m) => m.scenario === sc);
      return p && e ? [{ p, e, first: r.first }] : [];
    });
    if (!rs.length) continue;
    const ratio = (x: (typeof rs)[number]) => x.p.wallSeconds / x.e.wallSeconds;
    const perRound = rs.map((x) => 1 - ratio(x));
    const perPair: number[] = [];
    for (let i = 0; i + 1 < rs.length; i += 2) {
      if (rs[i]!.first === rs[i + 1]!.first) continue; // not one of each order: no pair
      perPair.push(1 - Math.sqrt(ratio(rs[i]!) * ratio(rs[i + 1]!)));
    }
    const pairs = rs;
    rows.push({
      scenario: sc,
      plainSeconds: med(pairs.map((x) => x.p.wallSeconds))!,
      encryptedSeconds: med(pairs.map((x) => x.e.wallSeconds))!,
      plainCpuSeconds: med(pairs.map((x) => x.p.cpuSeconds))!,
      encryptedCpuSeconds: med(pairs.map((x) => x.e.cpuSeconds))!,
      plainRssMiB: med(pairs.map((x) => x.p.maxRssMiB)),
      encryptedRssMiB: med(pairs.map((x) => x.e.maxRssMiB)),
      throughputCost: perPair.length ? median(perPair) : median(perRound),
      perPair,
      perRound,
    });
  }
  return rows;
}

export function formatEncryptionCost(rows: CostRow[]): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  return formatTable(
    ['scenario', 'plain s', 'encrypted s', 'plain CPU s', 'enc CPU s', 'plain RSS MiB', 'enc RSS MiB', 'throughput cost', 'per pair of rounds', 'per round', 'target ≤ 10 %'],
    rows.map((r) => [
      r.scenario,
      r.plainSeconds,
      r.encryptedSeconds,
      r.plainCpuSeconds,
      r.encryptedCpuSeconds,
      r.plainRssMiB,
      r.encryptedRssMiB,
      pct(r.throughputCost),
      r.perPair.map(pct).join(', ') || '—',
      r.perRound.map(pct).join(', '),
      r.throughputCost <= ENCRYPTION_COST_TARGET ? 'met' : 'missed',
    ]),
    { digits: 2 },
  );
}

/** bench/RESULTS-encryption.md, as `--encrypt pair --write-results` writes it. */
export function encryptionResultsPage(r: { command: string; at: string; machine: string; rows: CostRow[]; samples: string }): string {
  return (
    `# Encrypted against plain\n\nWritten by the harness itself. Produced by:\n\n    ${r.command}\n\nat ${r.at}. Every round backs up and restores ` +
    `the same image into a plain and into an encrypted local vault (AES-256-GCM, key file), one after the other, the order alternating ` +
    `with the round. The first run of a round was seen up to 30 % slower than the second, whichever vault it was, so two rounds of ` +
    `opposite order form a pair, the pair's ratio is the geometric mean of its rounds' ratios (the first-run factor cancels), and the ` +
    `cost is the median over pairs (bench/encryption-cost.ts). Throughput cost = 1 − plain wall / encrypted wall.\n\n` +
    `\`\`\`\n${r.machine}\n\n${formatEncryptionCost(r.rows)}\n\`\`\`\n\nFull samples: ${r.samples} (not committed).\n`
  );
}
