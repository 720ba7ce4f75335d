// restic and borg, run side by side on the same image in the same run, each with its own fresh
// repository in a temp dir. Every operation is measured as: wall seconds, CPU seconds of the child
// (user + sys, from GNU time -v when installed, else from the shell's `times`), peak RSS (GNU time
// only), and the repository's growth (apparent bytes and allocated bytes, like du -sb / du -sB1).
//
// Fairness, stated rather than hidden:
// - restic always encrypts (AES-256-CTR + Poly1305-AES) and, in repository format 2 (the default
//   since 0.14), compresses with zstd ("auto"); its password comes from $RESTIC_PASSWORD (a fixed
//   benchmark password is used when unset).
// - borg runs ENCRYPTED too, `--encryption=repokey` with $BORG_PASSPHRASE, so neither peer gets an
//   encryption-free advantage over the other (and blockvault's own encrypted mode can be compared
//   to both). Borg's mode is picked the way borg's docs advise: `repokey` (AES-CTR + HMAC-SHA256)
//   when the CPU has SHA extensions (sha_ni), else `repokey-blake2` (same AES, BLAKE2b MAC, faster
//   without SHA-NI). Override with PeerOptions.borgEncryption (e.g. 'none'). Compression lz4.
// - Both read the image from a warm page cache; both restore without fsync (neither peer syncs).
//   Restores create sparse output where the peer supports it (borg extract --sparse; restic
//   restore --sparse from 0.15 on); the flags actually used are recorded in each result.
// - Caches (restic's, borg's) live in the run's temp dir, so every repository starts cold, and
//   neither touches the user's home.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const MiB = 1024 * 1024;

export type PeerName = 'restic' | 'borg';
export const PEER_NAMES: readonly PeerName[] = ['restic', 'borg'];

export interface Missing {
  missing: string;
}

export function isMissing(x: unknown): x is Missing {
  return typeof x === 'object' && x !== null && typeof (x as Missing).missing === 'string';
}

export interface OpMeasure {
  op: string;
  command: string;
  wallSeconds: number;
  userSeconds: number;
  sysSeconds: number;
  cpuSeconds: number;
  /** Peak resident set size of the child, KiB (GNU time only; undefined otherwise). */
  maxRssKiB: number | undefined;
  /** Bytes of input (the image's logical size) over wall time, MB/s (MB = 2^20 bytes). */
  mbps: number;
  /** Repository size after the operation and growth during it (apparent bytes, like du -sb). */
  repoBytes: number;
  repoGrowthBytes: number;
  /** The same in allocated bytes (du -sB1). */
  repoAllocBytes: number;
  repoAllocGrowthBytes: number;
}

// ---------------------------------------------------------------------------------------------
// Measuring a child process

let gnuTimeCache: boolean | undefined;
/** True when /usr/bin/time is GNU time (supports -v and -o). */
export function hasGnuTime(): boolean {
  if (gnuTimeCache === undefined) {
    const r = spawnSync('/usr/bin/time', ['--version'], { encoding: 'utf8' });
    gnuTimeCache = r.status === 0 && /GNU/.test(`${r.stdout}${r.stderr}`);
  }
  return gnuTimeCache;
}

export interface ChildMeasure {
  wallSeconds: number;
  userSeconds: number;
  sysSeconds: number;
  maxRssKiB: number | undefined;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kept for the measurement files (GNU time -o, `times` output). */
  tmpDir: string;
}

/** Runs cmd args to completion, measuring wall, user+sys CPU and peak RSS of the child. Throws on failure. */
export async function runMeasured(cmd: string, args: string[], opts: RunOptions): Promise<ChildMeasure> {
  const statFile = path.join(opts.tmpDir, `time-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`);
  let argv: string[];
  let file: string;
  if (hasGnuTime()) {
    file = '/usr/bin/time';
    argv = ['-v', '-o', statFile, cmd, ...args];
  } else {
    // POSIX fallback: the shell's `times` prints its children's user and sys time on its 2nd line.
    file = '/bin/sh';
    argv = ['-c', '"$@"; rc=$?; times > "$BV_TIMES_FILE"; exit $rc', 'sh', cmd, ...args];
  }
  const env = { ...process.env, ...opts.env, BV_TIMES_FILE: statFile };
  const t0 = performance.now();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(file, argv, { env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < 4 * MiB) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < 4 * MiB) err.push(b);
      errLen += b.length;
    });
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  let text = '';
  try {
    text = fs.readFileSync(statFile, 'utf8');
    fs.rmSync(statFile, { force: true });
  } catch {
    /* reported below */
  }
  if (code !== 0) {
    const tail = (stderr || stdout).trim().split('\n').slice(-15).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${tail}`);
  }
  let userSeconds = NaN;
  let sysSeconds = NaN;
  let maxRssKiB: number | undefined;
  if (hasGnuTime()) {
    userSeconds = Number(/User time \(seconds\):\s*([\d.]+)/.exec(text)?.[1]);
    sysSeconds = Number(/System time \(seconds\):\s*([\d.]+)/.exec(text)?.[1]);
    const rss = /Maximum resident set size \(kbytes\):\s*(\d+)/.exec(text)?.[1];
    maxRssKiB = rss === undefined ? undefined : Number(rss);
  } else {
    const line = text.trim().split('\n')[1] ?? '';
    const t = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    userSeconds = t[0] ?? NaN;
    sysSeconds = t[1] ?? NaN;
  }
  return { wallSeconds, userSeconds, sysSeconds, maxRssKiB, stdout, stderr };
}

/** Apparent and allocated bytes under dir (du -sb / du -sB1), not following symlinks. */
export function dirBytes(dir: string): { apparent: number; allocated: number } {
  let apparent = 0;
  let allocated = 0;
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else {
        apparent += st.size;
        allocated += st.blocks * 512;
      }
    }
  };
  walk(dir);
  return { apparent, allocated };
}

// ---------------------------------------------------------------------------------------------
// Peers

export interface PeerOptions {
  /** Parent for this peer's temp dir (repo, cache, restore targets). Default os.tmpdir(). */
  workDir?: string;
  /** borg --encryption mode; default repokey with SHA-NI, else repokey-blake2 (see header). */
  borgEncryption?: string;
  /** borg --compression (default lz4). */
  borgCompression?: string;
  /** restic --compression (auto|off|max; default auto, restic's own default). */
  resticCompression?: string;
}

export interface PeerVersion {
  name: PeerName;
  version: string;
  binary: string;
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** The installed version of a peer, or why it is missing. */
export function peerVersion(name: PeerName): PeerVersion | Missing {
  const bin = which(name);
  if (!bin) return { missing: `${name} not installed` };
  const r = spawnSync(bin, name === 'restic' ? ['version'] : ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) return { missing: `${name} does not run: ${(r.stderr || String(r.error)).trim()}` };
  return { name, version: r.stdout.trim().split('\n')[0] ?? '', binary: bin };
}

export interface RestoreResult extends OpMeasure {
  /** Seconds of a `sync` run right after the restore: wallSeconds + syncSeconds is the durable restore. */
  syncSeconds: number;
  /** Path of the restored copy of the image. */
  restoredPath: string;
  /** The restore's target directory (removed by runPeerRound after verifying). */
  targetDir: string;
}

/** One peer with its own fresh repository. */
export interface Peer {
  readonly name: PeerName;
  readonly version: string;
  /** Flags and modes in effect (encryption, compression, sparse restore…). */
  readonly settings: Record<string, string | boolean>;
  readonly dir: string;
  init(): Promise<OpMeasure>;
  /** Backs up `file` (an absolute path); `size` is the logical byte count used for MB/s. */
  backup(file: string, label: string, size: number): Promise<OpMeasure>;
  /** Restores the latest backup of `file` into a fresh target dir. */
  restore(file: string, size: number): Promise<RestoreResult>;
  /** Removes the repository, caches and restore targets. */
  dispose(): Promise<void>;
}

abstract class PeerBase implements Peer {
  abstract readonly name: PeerName;
  readonly settings: Record<string, string | boolean> = {};
  readonly repo: string;
  protected readonly tmp: string;
  private restores = 0;

  constructor(
    readonly version: string,
    protected readonly binary: string,
    readonly dir: string,
  ) {
    this.repo = path.join(dir, 'repo');
    this.tmp = path.join(dir, 'tmp');
    fs.mkdirSync(this.tmp, { recursive: true });
  }

  protected abstract env(): NodeJS.ProcessEnv;
  abstract init(): Promise<OpMeasure>;
  abstract backup(file: string, label: string, size: number): Promise<OpMeasure>;
  protected abstract restoreArgs(target: string): { args: string[]; cwd?: string };
  protected abstract restoredPathOf(target: string, file: string): string;

  protected async measure(op: string, args: string[], size: number, cwd?: string): Promise<OpMeasure> {
    const before = dirBytes(this.repo);
    const runOpts: RunOptions = { env: this.env(), tmpDir: this.tmp };
    if (cwd !== undefined) runOpts.cwd = cwd;
    const m = await runMeasured(this.binary, args, runOpts);
    const after = dirBytes(this.repo);
    return {
      op,
      command: `${this.name} ${args.join(' ')}`,
      wallSeconds: m.wallSeconds,
      userSeconds: m.userSeconds,
      sysSeconds: m.sysSeconds,
      cpuSeconds: m.userSeconds + m.sysSeconds,
      maxRssKiB: m.maxRssKiB,
      mbps: size / MiB / m.wallSeconds,
      repoBytes: after.apparent,
      repoGrowthBytes: after.apparent - before.apparent,
      repoAllocBytes: after.allocated,
      repoAllocGrowthBytes: after.allocated - before.allocated,
    };
  }

  async restore(file: string, size: number): Promise<RestoreResult> {
    const target = path.join(this.dir, `restore-${++this.restores}`);
    fs.rmSync(target, { recursive: true, force: true });
    fs.mkdirSync(target, { recursive: true });
    const { args, cwd } = this.restoreArgs(target);
    spawnSync('sync'); // nothing dirty from before is flushed inside the timed sync below
    const m = await this.measure('restore', args, size, cwd);
    // Neither peer syncs its output: "restore + sync" is its wall time plus a trailing sync.
    const t0 = performance.now();
    spawnSync('sync');
    const syncSeconds = (performance.now() - t0) / 1000;
    return { ...m, syncSeconds, restoredPath: this.restoredPathOf(target, file), targetDir: target };
  }

  async dispose(): Promise<void> {
    await fs.promises.rm(this.dir, { recursive: true, force: true });
  }
}

class Restic extends PeerBase {
  readonly name = 'restic' as const;
  private readonly password: string;
  private readonly backupFlags: string[] = ['--quiet', '--host', 'bvbench'];
  private readonly restoreFlags: string[] = [];

  constructor(version: string, binary: string, dir: string, opts: PeerOptions) {
    super(version, binary, dir);
    this.password = process.env.RESTIC_PASSWORD ?? 'blockvault-bench';
    const backupHelp = helpText(binary, ['backup', '--help']);
    const restoreHelp = helpText(binary, ['restore', '--help']);
    // --no-scan (0.15+) skips the size pre-scan; meaningless for one file but cheap, so use it when there.
    if (/--no-scan\b/.test(backupHelp)) this.backupFlags.push('--no-scan');
    const compression = opts.resticCompression ?? 'auto';
    if (/--compression\b/.test(backupHelp)) this.backupFlags.push('--compression', compression);
    if (/--sparse\b/.test(restoreHelp)) this.restoreFlags.push('--sparse');
    this.settings.encryption = 'always on (AES-256-CTR + Poly1305-AES)';
    this.settings.compression = /--compression\b/.test(backupHelp) ? `${compression} (zstd, repo v2)` : 'none (repo v1)';
    this.settings.noScan = this.backupFlags.includes('--no-scan');
    this.settings.sparseRestore = this.restoreFlags.includes('--sparse');
    this.settings.password = process.env.RESTIC_PASSWORD ? 'from $RESTIC_PASSWORD' : 'fixed benchmark password';
  }

  protected env(): NodeJS.ProcessEnv {
    return {
      RESTIC_REPOSITORY: this.repo,
      RESTIC_PASSWORD: this.password,
      RESTIC_CACHE_DIR: path.join(this.dir, 'cache'),
      RESTIC_PROGRESS_FPS: '0.1',
    };
  }

  init(): Promise<OpMeasure> {
    return this.measure('init', ['init', '--quiet'], 0);
  }

  backup(file: string, label: string, size: number): Promise<OpMeasure> {
    return this.measure(label, ['backup', ...this.backupFlags, '--tag', label, file], size);
  }

  protected restoreArgs(target: string): { args: string[] } {
    return { args: ['restore', 'latest', '--host', 'bvbench', '--target', target, ...this.restoreFlags] };
  }

  protected restoredPathOf(target: string, file: string): string {
    return path.join(target, file);
  }
}

class Borg extends PeerBase {
  readonly name = 'borg' as const;
  private readonly passphrase: string;
  private readonly encryption: string;
  private readonly compression: string;
  private readonly extractFlags: string[] = [];
  private last = '';

  constructor(version: string, binary: string, dir: string, opts: PeerOptions) {
    super(version, binary, dir);
    this.passphrase = process.env.BORG_PASSPHRASE ?? 'blockvault-bench';
    this.encryption = opts.borgEncryption ?? (cpuHasShaNi() ? 'repokey' : 'repokey-blake2');
    this.compression = opts.borgCompression ?? 'lz4';
    if (/--sparse\b/.test(helpText(binary, ['extract', '--help']))) this.extractFlags.push('--sparse');
    this.settings.encryption = this.encryption + (opts.borgEncryption ? '' : cpuHasShaNi() ? ' (CPU has SHA-NI)' : ' (no SHA-NI)');
    this.settings.compression = this.compression;
    this.settings.sparseRestore = this.extractFlags.includes('--sparse');
    this.settings.passphrase = this.encryption === 'none' ? 'none' : process.env.BORG_PASSPHRASE ? 'from $BORG_PASSPHRASE' : 'fixed benchmark passphrase';
  }

  protected env(): NodeJS.ProcessEnv {
    return {
      BORG_REPO: this.repo,
      BORG_PASSPHRASE: this.passphrase,
      // Cache, keys and security dirs under the run's dir: a cold, private start every time.
      BORG_BASE_DIR: path.join(this.dir, 'base'),
      BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
      BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: 'NO',
    };
  }

  init(): Promise<OpMeasure> {
    return this.measure('init', ['init', `--encryption=${this.encryption}`, this.repo], 0);
  }

  backup(file: string, label: string, size: number): Promise<OpMeasure> {
    this.last = `${label}-${Date.now()}`;
    return this.measure(label, ['create', '--compression', this.compression, `${this.repo}::${this.last}`, file], size);
  }

  protected restoreArgs(target: string): { args: string[]; cwd: string } {
    // borg extract writes into the current directory.
    return { args: ['extract', ...this.extractFlags, `${this.repo}::${this.last}`], cwd: target };
  }

  protected restoredPathOf(target: string, file: string): string {
    return path.join(target, file.replace(/^\/+/, ''));
  }
}

function helpText(binary: string, args: string[]): string {
  const r = spawnSync(binary, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}

let shaNi: boolean | undefined;
function cpuHasShaNi(): boolean {
  if (shaNi === undefined) {
    try {
      shaNi = /^flags\s*:.*\bsha_ni\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      shaNi = false;
    }
  }
  return shaNi;
}

/** A peer with a fresh, empty temp dir (not yet initialised), or why it cannot run. */
export function createPeer(name: PeerName, opts: PeerOptions = {}): Peer | Missing {
  const v = peerVersion(name);
  if (isMissing(v)) return v;
  const dir = fs.mkdtempSync(path.join(opts.workDir ?? os.tmpdir(), `bvbench-${name}-`));
  return name === 'restic' ? new Restic(v.version, v.binary, dir, opts) : new Borg(v.version, v.binary, dir, opts);
}

// ---------------------------------------------------------------------------------------------
// One round: full → (mutate) → incremental → restore, for several peers on one image

export interface PeerRound {
  name: PeerName;
  version: string;
  settings: Record<string, string | boolean>;
  full: OpMeasure;
  incremental: OpMeasure;
  restore: RestoreResult & { verified: boolean | undefined };
}

export interface RoundOptions extends PeerOptions {
  peers?: readonly PeerName[];
  /** The image (absolute path); it is mutated in place between the full and the incremental. */
  image: string;
  /** Logical size used for MB/s (default: the file's size). */
  size?: number;
  /** Called once, after every peer's full backup and before any incremental. */
  mutate: () => Promise<unknown>;
  /** Compare each restored file with the image (default true). */
  verify?: boolean;
  /** Peer order (e.g. reversed on odd runs, so no peer always goes first). */
  order?: 'forward' | 'reverse';
  log?: (line: string) => void;
}

/**
 * Runs full backup for every available peer (each into its own fresh repository), mutates the
 * image once, then the incremental and a restore of the latest for every peer. Missing peers come
 * back as { missing }.
 */
export async function runPeerRound(opts: RoundOptions): Promise<Record<string, PeerRound | Missing>> {
  const names = [...(opts.peers ?? PEER_NAMES)];
  if (opts.order === 'reverse') names.reverse();
  const size = opts.size ?? fs.statSync(opts.image).size;
  const log = opts.log ?? (() => {});
  const out: Record<string, PeerRound | Missing> = {};
  const live: { peer: Peer; full: OpMeasure }[] = [];
  try {
    for (const n of names) {
      const p = createPeer(n, opts);
      if (isMissing(p)) {
        out[n] = p;
        log(`${n}: ${p.missing}`);
        continue;
      }
      await p.init();
      log(`${n}: full backup…`);
      const full = await p.backup(opts.image, 'full', size);
      log(`${n}: full ${full.wallSeconds.toFixed(1)} s`);
      live.push({ peer: p, full });
    }
    await opts.mutate();
    const imageDigest = opts.verify ?? true ? await fileDigest(opts.image) : undefined;
    for (const { peer, full } of live) {
      log(`${peer.name}: incremental…`);
      const incremental = await peer.backup(opts.image, 'incr', size);
      log(`${peer.name}: incremental ${incremental.wallSeconds.toFixed(1)} s; restore…`);
      const r = await peer.restore(opts.image, size);
      let verified: boolean | undefined;
      if (imageDigest !== undefined) verified = (await fileDigest(r.restoredPath)) === imageDigest;
      log(`${peer.name}: restore ${r.wallSeconds.toFixed(1)} s${verified === undefined ? '' : verified ? ', verified' : ', MISMATCH'}`);
      out[peer.name] = { name: peer.name, version: peer.version, settings: { ...peer.settings }, full, incremental, restore: { ...r, verified } };
      await fs.promises.rm(r.targetDir, { recursive: true, force: true });
    }
  } finally {
    for (const { peer } of live) await peer.dispose();
  }
  return out;
}

/** SHA-256 of a file's bytes (holes read as zeros). */
export async function fileDigest(file: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await fs.promises.open(file, 'r');
  const buf = Buffer.allocUnsafeSlow(4 * MiB);
  try {
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}
