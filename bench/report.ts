// Formatting of benchmark results: a fixed-width table for people, JSON (with the machine's
// description) for tools and for comparing runs later.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PEER_NAMES, isMissing, peerVersion } from './peers.js';

export type Cell = string | number | undefined | null;

export interface TableOptions {
  /** Per column: 'left' or 'right'; default right for numbers, left for text. */
  align?: ('left' | 'right')[];
  /** Digits after the point for numbers (default 1). A column may override with digitsBy. */
  digits?: number;
  digitsBy?: (number | undefined)[];
  title?: string;
}

function cellText(c: Cell, digits: number): string {
  if (c === undefined || c === null) return '—';
  if (typeof c === 'number') {
    if (!Number.isFinite(c)) return '—';
    return c.toFixed(digits);
  }
  return c;
}

/** A readable fixed-width table (two spaces between columns, a rule under the header). */
export function formatTable(headers: string[], rows: Cell[][], opts: TableOptions = {}): string {
  const digits = opts.digits ?? 1;
  const text = rows.map((r) => headers.map((_, i) => cellText(r[i], opts.digitsBy?.[i] ?? digits)));
  const numeric = headers.map((_, i) => rows.some((r) => typeof r[i] === 'number'));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const align = headers.map((_, i) => opts.align?.[i] ?? (numeric[i] ? 'right' : 'left'));
  const fmtRow = (cells: string[]): string =>
    cells
      .map((c, i) => (align[i] === 'right' ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  const lines: string[] = [];
  if (opts.title) lines.push(opts.title);
  lines.push(fmtRow(headers));
  lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of text) lines.push(fmtRow(r));
  return lines.join('\n');
}

const MiB = 1024 * 1024;
export const toMiB = (bytes: number | undefined): number | undefined => (bytes === undefined ? undefined : bytes / MiB);

/** "1.50 GiB", "12.0 MiB", "512 KiB" (binary units). */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export interface MachineInfo {
  cpuModel: string;
  /** Logical CPUs the process may use. */
  cores: number;
  memoryBytes: number;
  kernel: string;
  platform: string;
  node: string;
  /** Load averages (1, 5, 15 min) when described: other work on the box skews every number. */
  loadavg: number[];
  /** Versions of the project's dependencies, read from node_modules/<name>/package.json. */
  dependencies: Record<string, string>;
  /** restic / borg versions, or why they are missing. */
  peers: Record<string, string>;
  tools: Record<string, string>;
  filesystem: string | undefined;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    /* fall through */
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** Walks up from here to the directory holding package.json (the project root). */
export function projectRoot(start = path.dirname(new URL(import.meta.url).pathname)): string {
  let d = start;
  for (;;) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'node_modules'))) return d;
    const up = path.dirname(d);
    if (up === d) return process.cwd();
    d = up;
  }
}

function dependencyVersions(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  let names: string[] = [];
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    names = Object.keys(pkg.dependencies ?? {});
  } catch {
    /* none */
  }
  for (const n of names) {
    try {
      const p = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', n, 'package.json'), 'utf8')) as { version?: string };
      out[n] = p.version ?? '?';
    } catch {
      out[n] = 'not installed';
    }
  }
  return out;
}

function toolVersion(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'not installed';
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '';
}

/** Describes the machine the numbers came from. `dir` names where the images live (its filesystem). */
export function machineInfo(opts: { root?: string; dir?: string } = {}): MachineInfo {
  const root = opts.root ?? projectRoot();
  const peers: Record<string, string> = {};
  for (const n of PEER_NAMES) {
    const v = peerVersion(n);
    peers[n] = isMissing(v) ? v.missing : v.version;
  }
  let filesystem: string | undefined;
  if (opts.dir) {
    const r = spawnSync('findmnt', ['-no', 'FSTYPE,SOURCE', '-T', opts.dir], { encoding: 'utf8' });
    if (r.status === 0) filesystem = r.stdout.trim();
  }
  return {
    cpuModel: cpuModel(),
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    memoryBytes: os.totalmem(),
    kernel: os.release(),
    platform: `${os.platform()} ${os.arch()}`,
    node: process.version,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    dependencies: dependencyVersions(root),
    peers,
    tools: {
      time: toolVersion('/usr/bin/time', ['--version']),
      'mkfs.ext4': toolVersion('mkfs.ext4', ['-V']),
    },
    filesystem,
  };
}

export function formatMachine(m: MachineInfo): string {
  return [
    `machine: ${m.cpuModel}, ${m.cores} cores, ${humanBytes(m.memoryBytes)} RAM, ${m.platform}, kernel ${m.kernel}, Node ${m.node}`,
    `load average at start: ${m.loadavg.join(' ')}${m.filesystem ? `; images on ${m.filesystem}` : ''}`,
    `peers: ${Object.entries(m.peers).map(([k, v]) => `${k}: ${v}`).join('; ')}`,
  ].join('\n');
}

/** Writes pretty JSON, creating the directory. */
export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}
