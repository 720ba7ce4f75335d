// CPU seconds of the S3 server's own processes, read from /proc, so the S3 ratios can say
// whether the machine's cores were the limit. On a bench host client and server share the
// cores: a plain PUT loop already keeps most of them busy, and every CPU-second the engine
// spends on reading, hashing and compressing comes out of the same budget.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

/** Process names of the S3 servers the bench is run against (Ceph RGW and its daemons, MinIO). */
const SERVER_COMMS = new Set(['radosgw', 'ceph-osd', 'ceph-mon', 'ceph-mgr', 'minio']);

let ticks: number | undefined;
function clockTicks(): number {
  ticks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return ticks;
}

/** The pids of this machine's S3 server processes (none when the server runs elsewhere). */
export function serverPids(): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (SERVER_COMMS.has(fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim())) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** utime + stime of the processes, in seconds (a process that ended counts no more). */
export function processCpuSeconds(pids: number[]): number {
  let t = 0;
  for (const pid of pids) {
    try {
      // The fields after the command name, which may itself hold spaces and parentheses.
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
      t += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return t / clockTicks();
}

export interface PhaseCpu {
  seconds: number;
  /** This process (the engine or the loop). */
  clientCpu: number;
  /** The server's processes on this machine. */
  serverCpu: number;
}

/** Runs fn, returning its wall seconds and the CPU seconds client and server spent meanwhile. */
export async function timedWithCpu(pids: number[], fn: () => Promise<unknown>): Promise<PhaseCpu> {
  const s0 = processCpuSeconds(pids);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { seconds, clientCpu: (c.user + c.system) / 1e6, serverCpu: processCpuSeconds(pids) - s0 };
}

/**
 * The best ratio to a loop that this host's cores allow the engine, given the CPU it spent:
 * were every core busy for the whole run, it could take no less than (its CPU + the server's)
 * / cores. Above what was measured: time lost waiting; at it: the cores were the limit.
 */
export function cpuBoundRatio(loopSeconds: number, engine: PhaseCpu, cores: number): number {
  const fastest = Math.max((engine.clientCpu + engine.serverCpu) / cores, Number.EPSILON);
  return loopSeconds / Math.max(fastest, loopSeconds);
}
