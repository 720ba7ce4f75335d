// The S3 ratios' CPU accounting: a process's CPU read from /proc grows with the work it does,
// and the bound a run's CPU allows is the loop's time over the fastest the cores could go.
import { describe, expect, it } from 'vitest';
import { cpuBoundRatio, processCpuSeconds, timedWithCpu } from '../../bench/server-cpu.js';

describe('S3 bench CPU accounting', () => {
  it('reads a process CPU from /proc, growing with its work; a missing pid counts nothing', async () => {
    const before = processCpuSeconds([process.pid]);
    const phase = await timedWithCpu([process.pid], async () => {
      const end = Date.now() + 300;
      while (Date.now() < end); // 0.3 s of CPU
    });
    expect(processCpuSeconds([process.pid]) - before).toBeGreaterThan(0.15);
    expect(phase.clientCpu).toBeGreaterThan(0.2);
    expect(phase.serverCpu).toBeGreaterThan(0.15); // the "server" here is this process too
    expect(phase.seconds).toBeGreaterThanOrEqual(0.29);
    expect(processCpuSeconds([2 ** 22 + 12345])).toBe(0);
  });

  it('bounds the ratio by the CPU spent over the cores, and never above 1', () => {
    // 6 CPU-s on 2 cores: no faster than 3 s, against a 2 s loop.
    expect(cpuBoundRatio(2, { seconds: 4, clientCpu: 4, serverCpu: 2 }, 2)).toBeCloseTo(2 / 3, 6);
    // Little CPU: the loop's own time is the bound.
    expect(cpuBoundRatio(2, { seconds: 2.5, clientCpu: 1, serverCpu: 1 }, 2)).toBe(1);
  });
});
