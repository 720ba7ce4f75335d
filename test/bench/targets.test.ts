import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderChart } from '../../bench/chart.js';
import { cpuFloors, durableWriteSeconds } from '../../bench/floors.js';
import type { PeerRound } from '../../bench/peers.js';
import { evaluateTargets, formatTargets, type Round } from '../../bench/targets.js';

const op = (wallSeconds: number, cpuSeconds = wallSeconds) => ({ wallSeconds, cpuSeconds, syncSeconds: 0.5 }) as unknown as PeerRound['full'] & { syncSeconds: number };
const peerRound = (full: number, restore: number): PeerRound => ({ full: op(full), incremental: op(full / 2), restore: op(restore) }) as unknown as PeerRound;

function round(ourFull: number, resticFull: number): Round {
  return {
    ours: [
      { scenario: 'full', vault: 'local', wallSeconds: ourFull, cpuSeconds: 2, maxRssMiB: 150 },
      { scenario: 'incremental', vault: 'local', wallSeconds: 1, cpuSeconds: 1, maxRssMiB: 120 },
      { scenario: 'restore', vault: 'local', wallSeconds: 2, cpuSeconds: 1, maxRssMiB: 100 },
    ],
    peers: { restic: peerRound(resticFull, 3), borg: { missing: 'borg not installed' } },
    floors: { cpuFloorSeconds: 1, readHashFloorSeconds: 0.9, storedWriteSeconds: 1.5, restoredWriteSeconds: 1.8 },
    startup: { cliSeconds: 0.2, nodeSeconds: 0.05, samples: [0.2] },
  };
}

describe('bench targets', () => {
  it('pairs each ratio within its round before taking the median', () => {
    // Round 2 is slow for both: paired ratios stay 3, 3, 3; medians taken apart would give 10/4 = 2.5.
    const rounds = [round(2, 6), round(4, 12), round(2, 6)];
    rounds[2]!.peers.restic = peerRound(10, 3);
    const t = evaluateTargets(rounds);
    const restic = t.find((x) => x.id === '1.restic')!;
    expect(restic.samples).toEqual([3, 3, 5]);
    expect(restic.value).toBe(3);
    expect(restic.met).toBe(true);
  });

  it('reads the full backup against the larger floor and says which one binds', () => {
    const t = evaluateTargets([round(2, 6)]);
    const floor = t.find((x) => x.id === '1.floor')!;
    expect(floor.value).toBeCloseTo(0.75); // max(1, 1.5) / 2
    expect(floor.met).toBe(false);
    expect(floor.note).toMatch(/durable write/);
    expect(t.find((x) => x.id === '3.floor')!.value).toBeCloseTo(0.9);
    expect(t.find((x) => x.id === '3.restic-sync')!.value).toBeCloseTo(1.75);
    expect(t.find((x) => x.id === '6.restore')!.met).toBe(true);
    expect(t.find((x) => x.id === '6.backup')!.met).toBe(false);
    expect(t.find((x) => x.id === '2.startup')!.met).toBe(false);
  });

  it('reports what was not measured as such, not as met', () => {
    const t = evaluateTargets([round(2, 6)]);
    const borg = t.find((x) => x.id === '1.borg')!;
    expect(borg.value).toBeUndefined();
    expect(borg.met).toBeUndefined();
    expect(formatTargets(t)).toMatch(/1\.borg .*not measured/);
    expect(formatTargets(t)).toMatch(/1\.restic .*met/);
  });
});

describe('bench floors and chart', () => {
  it('adds read (on one core of two), BLAKE3 and LZ4 into the CPU floor', () => {
    const MiB = 1024 * 1024;
    const f = cpuFloors(2048 * MiB, 1000 * MiB, { readMBps: 1024, blake3x2MBps: 2000, lz4x2MBps: 1000 });
    expect(f.readHashFloorSeconds).toBeCloseTo(1 + 0.5);
    expect(f.cpuFloorSeconds).toBeCloseTo(1 + 0.5 + 1);
  });

  it('times a durable write and leaves no file behind', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bv-floor-'));
    try {
      const src = path.join(dir, 'src');
      fs.writeFileSync(src, Buffer.alloc(1024 * 1024, 7));
      const s = durableWriteSeconds(dir, 3 * 1024 * 1024 + 5, src);
      expect(s).toBeGreaterThan(0);
      expect(fs.readdirSync(dir)).toEqual(['src']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('draws one bar per measured contender, scaled within its group', () => {
    const svg = renderChart('t', 's', [
      { title: 'full <backup>', bars: [{ label: 'blockvault', seconds: 2, kind: 'ours' }, { label: 'restic', seconds: 4, kind: 'peer' }, { label: 'borg', seconds: undefined, kind: 'peer' }] },
    ]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('full &lt;backup&gt;');
    const widths = [...svg.matchAll(/<rect x="230" y="\d+" width="([\d.]+)" height="16"/g)].map((m) => Number(m[1]));
    expect(widths).toHaveLength(2);
    expect(widths[1]! / widths[0]!).toBeCloseTo(2);
    expect(svg).not.toContain('borg');
  });
});
