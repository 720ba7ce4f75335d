// Issue 13's targets, each read as a ratio computed per round (our run and the peer or floor it
// is compared with ran in the same round, so the same load moved both), then the median over
// the rounds, with met/missed. Pure: it only reads what the rounds measured.
import { median } from './ceilings.js';
import type { RoundFloors, Startup } from './floors.js';
import { isMissing, type Missing, type PeerRound } from './peers.js';
import { formatTable } from './report.js';

export interface OurRun {
  scenario: string;
  vault: string;
  wallSeconds: number;
  cpuSeconds: number;
  maxRssMiB: number | undefined;
}

export interface Round {
  ours: OurRun[];
  peers: Record<string, PeerRound | Missing>;
  floors: RoundFloors;
  startup?: Startup;
}

export interface Target {
  id: string;
  what: string;
  /** The median of the per-round values (a ratio, or seconds / MiB where `unit` says). */
  value: number | undefined;
  unit: 'ratio' | 's' | 'MiB';
  goal: string;
  met: boolean | undefined;
  samples: number[];
  note?: string;
}

/** What the S3 and large-vault parts add (measured in their own per-run pairs). */
export interface ExtraInputs {
  s3?: { backupRatios: number[]; restoreRatios: number[] };
  largeVault?: { backupPeakRssMiB: number[]; indexLoadSeconds: number[] };
}

const ours = (r: Round, scenario: string): OurRun | undefined => r.ours.find((m) => m.vault === 'local' && m.scenario === scenario);
const peer = (r: Round, name: string): PeerRound | undefined => {
  const p = r.peers[name];
  return p && !isMissing(p) ? p : undefined;
};

function perRound(rounds: Round[], f: (r: Round) => number | undefined): number[] {
  return rounds.map(f).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
}

function target(id: string, what: string, samples: number[], goal: { atLeast?: number; above?: number; atMost?: number; below?: number }, unit: Target['unit'] = 'ratio', note?: string): Target {
  const value = samples.length ? median(samples) : undefined;
  let met: boolean | undefined;
  let text = '';
  if (value !== undefined) {
    if (goal.atLeast !== undefined) met = value >= goal.atLeast;
    if (goal.above !== undefined) met = value > goal.above;
    if (goal.atMost !== undefined) met = value <= goal.atMost;
    if (goal.below !== undefined) met = value < goal.below;
  }
  if (goal.atLeast !== undefined) text = `≥ ${goal.atLeast}`;
  if (goal.above !== undefined) text = `> ${goal.above}`;
  if (goal.atMost !== undefined) text = `≤ ${goal.atMost}`;
  if (goal.below !== undefined) text = `< ${goal.below}`;
  return { id, what, value, unit, goal: unit === 'ratio' ? text : `${text} ${unit}`, met, samples, ...(note ? { note } : {}) };
}

/** Every target of issue 13 the run measured (the rest come back with value undefined). */
export function evaluateTargets(rounds: Round[], extra: ExtraInputs = {}): Target[] {
  const wallOver = (scenario: string, f: (r: Round) => number | undefined) =>
    perRound(rounds, (r) => {
      const o = ours(r, scenario);
      const x = f(r);
      return o && x !== undefined ? x / o.wallSeconds : undefined;
    });
  const fullFloor = (r: Round) => (r.floors.storedWriteSeconds === undefined ? r.floors.cpuFloorSeconds : Math.max(r.floors.cpuFloorSeconds, r.floors.storedWriteSeconds));
  const diskBinds = perRound(rounds, (r) => (r.floors.storedWriteSeconds !== undefined && r.floors.storedWriteSeconds > r.floors.cpuFloorSeconds ? 1 : 0));
  const binding = diskBinds.length ? (median(diskBinds) >= 0.5 ? 'the durable write of the stored bytes is the larger floor' : 'the 2-core CPU floor is the larger floor') : undefined;
  const t: Target[] = [
    target('1.floor', 'full backup: floor / ours (floor = max(2-core CPU floor, durable write of the stored bytes))', wallOver('full', fullFloor), { atLeast: 0.8 }, 'ratio', binding),
    target('1.restic', 'full backup: restic / ours, wall', wallOver('full', (r) => peer(r, 'restic')?.full.wallSeconds), { atLeast: 3 }),
    target('1.borg', 'full backup: borg / ours, wall', wallOver('full', (r) => peer(r, 'borg')?.full.wallSeconds), { atLeast: 3 }),
    target(
      '1.cpu',
      'full backup: borg CPU s / ours (at least 1: no more CPU than borg)',
      perRound(rounds, (r) => {
        const o = ours(r, 'full');
        const b = peer(r, 'borg')?.full.cpuSeconds;
        return o && b !== undefined ? b / o.cpuSeconds : undefined;
      }),
      { atLeast: 1 },
    ),
    target('2.floor', 'incremental, no list: read + BLAKE3 floor / ours', wallOver('incremental', (r) => r.floors.readHashFloorSeconds), { atLeast: 0.8 }),
    target(
      '2.startup',
      '`blockvault --version`, wall',
      perRound(rounds, (r) => r.startup?.cliSeconds),
      { below: 0.15 },
      's',
      rounds[0]?.startup ? `node -e 0 alone: ${median(perRound(rounds, (r) => r.startup?.nodeSeconds)).toFixed(3)} s` : undefined,
    ),
    target('3.floor', 'restore (durable): durable write of the restored bytes / ours', wallOver('restore', (r) => r.floors.restoredWriteSeconds), { atLeast: 0.8 }),
    target('3.restic', 'restore: restic without sync / ours (durable)', wallOver('restore', (r) => peer(r, 'restic')?.restore.wallSeconds), { above: 1 }),
    target(
      '3.restic-sync',
      'restore: restic + sync / ours',
      wallOver('restore', (r) => {
        const p = peer(r, 'restic');
        return p ? p.restore.wallSeconds + p.restore.syncSeconds : undefined;
      }),
      { atLeast: 2 },
    ),
    target('4.backup', 'S3 backup: plain PUT loop / ours, same objects and concurrency', extra.s3?.backupRatios ?? [], { atLeast: 0.9 }),
    target('4.restore', 'S3 restore: plain GET loop / ours', extra.s3?.restoreRatios ?? [], { atLeast: 0.9 }),
    target('5.rss', 'large vault (10 M chunks): 64 MiB backup peak RSS', extra.largeVault?.backupPeakRssMiB ?? [], { below: 200 }, 'MiB'),
    target('5.index', 'large vault: index load, local copy current', extra.largeVault?.indexLoadSeconds ?? [], { below: 1 }, 's'),
    target('6.backup', 'peak RSS, full backup at default settings', perRound(rounds, (r) => ours(r, 'full')?.maxRssMiB), { atMost: 128 }, 'MiB'),
    target('6.restore', 'peak RSS, restore at default settings', perRound(rounds, (r) => ours(r, 'restore')?.maxRssMiB), { atMost: 128 }, 'MiB'),
  ];
  return t;
}

export function formatTargets(ts: Target[]): string {
  const rows = ts.map((t) => [
    t.id,
    t.what,
    t.value === undefined ? undefined : t.unit === 'ratio' ? t.value.toFixed(2) : `${t.value.toFixed(t.unit === 's' ? 3 : 1)} ${t.unit}`,
    t.goal,
    t.met === undefined ? 'not measured' : t.met ? 'met' : 'missed',
    t.samples.length ? t.samples.map((x) => x.toFixed(2)).join(' ') : undefined,
  ]);
  const table = formatTable(['target', 'what', 'median', 'goal', 'verdict', 'per round'], rows, { align: ['left', 'left', 'right', 'left', 'left', 'left'] });
  const notes = ts.filter((t) => t.note).map((t) => `${t.id}: ${t.note}`);
  return notes.length ? `${table}\n${notes.join('\n')}` : table;
}
