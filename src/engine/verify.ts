// Verify: every manifest parses (checksum), every chain resolves, and every chunk a
// manifest names exists with the stored length the manifest says (quick: one LIST of
// chunks/, no GET). --deep also fetches chunks (all, or a random sample of the distinct
// ones) through the vault's one read path (frame checksum, decompress, keyed identity). The
// report names each damaged chunk (id, object key, what is wrong) and every backup and block
// offset whose restore point needs it, and what is wrong with the chunk index
// (verify-index.ts). The phases, in order: readManifests, resolveChains, checkSizes,
// deepCheck, checkIndexSegments, mapDamage; each reports {phase, done, total} progress.
import pLimit from 'p-limit';
import { idToHex } from '../chunk/identity.js';
import { BlockvaultError, ErrorCodes, throwIfAborted } from '../errors.js';
import { PhaseProgress } from '../metrics/phase-progress.js';
import type { ProgressOptions } from '../metrics/progress.js';
import { BlockMap } from '../vault/block-map.js';
import { Layout } from '../vault/layout.js';
import { EntryKind, entries, type Manifest } from '../vault/manifest.js';
import type { Vault } from '../vault/vault.js';
import { withOperationSignal } from '../vault/operation.js';
import { checkIndexSegments, type IndexReport } from './verify-index.js';

export interface VerifyOptions extends ProgressOptions<'verify'> {
  volumeId?: string;
  deep?: boolean;
  /** With deep: check this percentage (0–100] of the distinct chunks, chosen at random. */
  samplePercent?: number;
  concurrency?: number;
  signal?: AbortSignal;
  /** For tests: the sample's random source. */
  random?: () => number;
}

export interface AffectedBackup {
  backupId: string;
  volumeId: string;
  blocks: { blockIndex: number; offset: number }[];
}

export interface DamagedChunk {
  chunk: string;
  object: string;
  problem: 'missing' | 'wrong-size' | 'corrupt';
  detail: string;
  affected: AffectedBackup[];
}

export interface VerifyResult {
  ok: boolean;
  deep: boolean;
  samplePercent: number;
  manifests: number;
  chunksReferenced: number;
  chunksFetched: number;
  bytesFetched: number;
  damagedManifests: { object: string; backupId: string; problem: string }[];
  brokenChains: { backupId: string; volumeId: string; problem: string }[];
  damagedChunks: DamagedChunk[];
  /** Every backup that cannot be restored bit-exact as things stand. */
  affectedBackups: string[];
  /** The chunk index: damaged segments and listed-but-missing chunks make `ok` false;
   *  unindexed chunks (left by an interrupted backup) are reported only. */
  index: IndexReport;
  elapsedMs: number;
}

export function verify(vault: Vault, opts: VerifyOptions = {}): Promise<VerifyResult> {
  return withOperationSignal(opts?.signal, () => verifyInScope(vault, opts));
}

async function verifyInScope(vault: Vault, opts: VerifyOptions = {}): Promise<VerifyResult> {
  return new VerifyRun(vault, opts).execute();
}

class VerifyRun {
  readonly #vault: Vault;
  readonly #opts: VerifyOptions;
  readonly #started = Date.now();
  readonly #limit: ReturnType<typeof pLimit>;
  readonly #pct: number;
  readonly progress: PhaseProgress;
  readonly byId = new Map<string, Manifest>();
  readonly damagedManifests: VerifyResult['damagedManifests'] = [];
  readonly #damagedIds = new Set<string>();
  readonly brokenChains: VerifyResult['brokenChains'] = [];
  readonly chains = new Map<string, Manifest[]>();
  /** Referenced chunk (hex) → the stored lengths manifests claim. */
  readonly claimed = new Map<string, Set<number>>();
  /** Every chunk object listed (hex), and the sizes of referenced ones. */
  readonly listed = new Set<string>();
  readonly sizes = new Map<string, number>();
  readonly damaged = new Map<string, DamagedChunk>();
  readonly affected = new Set<string>();
  chunksFetched = 0;
  bytesFetched = 0;

  constructor(vault: Vault, opts: VerifyOptions) {
    this.#vault = vault;
    this.#opts = opts;
    this.#limit = pLimit(Math.max(1, opts.concurrency ?? 8));
    this.#pct = opts.deep ? Math.min(100, Math.max(0, opts.samplePercent ?? 100)) : 0;
    this.progress = new PhaseProgress('verify', opts, opts.volumeId ? { volumeId: opts.volumeId } : {}, () => ({
      manifests: this.byId.size,
      chunksReferenced: this.claimed.size,
      chunksFetched: this.chunksFetched,
      bytesFetched: this.bytesFetched,
      damagedChunks: this.damaged.size,
    }));
  }

  get #signalOpt(): { signal?: AbortSignal } {
    return this.#opts.signal ? { signal: this.#opts.signal } : {};
  }

  async execute(): Promise<VerifyResult> {
    await this.readManifests();
    this.resolveChains();
    await this.checkSizes();
    if (this.#opts.deep) await this.deepCheck();
    const index = await checkIndexSegments(this.#vault, this.listed, this.progress);
    this.mapDamage();
    const damagedChunks = [...this.damaged.values()].sort((a, b) => a.chunk.localeCompare(b.chunk));
    for (const d of damagedChunks) d.affected.sort((a, b) => a.backupId.localeCompare(b.backupId));
    const indexOk = index.damagedSegments.length === 0 && index.listedMissing === 0;
    return {
      ok: damagedChunks.length === 0 && this.damagedManifests.length === 0 && this.brokenChains.length === 0 && indexOk,
      deep: !!this.#opts.deep,
      samplePercent: this.#pct,
      manifests: this.byId.size,
      chunksReferenced: this.claimed.size,
      chunksFetched: this.chunksFetched,
      bytesFetched: this.bytesFetched,
      damagedManifests: this.damagedManifests,
      brokenChains: this.brokenChains,
      damagedChunks,
      affectedBackups: [...this.affected].sort(),
      index,
      elapsedMs: Date.now() - this.#started,
    };
  }

  /** Every manifest read and decoded (re-read on a bad body); a damaged one is recorded. */
  async readManifests(): Promise<void> {
    const { volumeId } = this.#opts;
    const prefix = volumeId ? Layout.manifestVolumePrefix(volumeId) : Layout.manifestPrefix;
    const keys: string[] = [];
    for await (const o of this.#vault.meta.list(prefix)) if (Layout.isManifestKey(o.key)) keys.push(o.key);
    this.progress.start('readManifests', keys.length);
    await Promise.all(
      keys.map((key) =>
        this.#limit(async () => {
          throwIfAborted(this.#opts.signal);
          const backupId = Layout.backupIdFromManifestKey(key);
          try {
            const m = await this.#vault.readManifestAt(key, this.#signalOpt);
            if (m) this.byId.set(m.header.backupId, m); // else deleted meanwhile
          } catch (e) {
            if (!isDamage(e, ErrorCodes.vaultDamaged)) throw e;
            this.damagedManifests.push({ object: key, backupId, problem: (e as Error).message });
            this.#damagedIds.add(backupId);
          }
          this.progress.advance();
        }),
      ),
    );
    for (const d of this.damagedManifests) this.affected.add(d.backupId);
    this.progress.end();
  }

  /** Each backup's chain down to its full; a loop or a missing/damaged parent breaks it. */
  resolveChains(): void {
    this.progress.start('resolveChains', this.byId.size);
    for (const m of this.byId.values()) {
      const chain: Manifest[] = [];
      const seen = new Set<string>();
      let problem: string | undefined;
      for (let cur: Manifest | undefined = m; cur; ) {
        if (seen.has(cur.header.backupId)) {
          problem = `chain loops at ${cur.header.backupId}`;
          break;
        }
        seen.add(cur.header.backupId);
        chain.push(cur);
        const pid: string | null = cur.header.parentId;
        if (!pid) break;
        cur = this.byId.get(pid);
        if (!cur) problem = this.#damagedIds.has(pid) ? `parent ${pid} is damaged` : `parent ${pid} is missing`;
      }
      if (problem) {
        this.brokenChains.push({ backupId: m.header.backupId, volumeId: m.header.volumeId, problem });
        this.affected.add(m.header.backupId);
      } else this.chains.set(m.header.backupId, chain);
      this.progress.advance();
    }
    this.progress.end();
  }

  /** One LIST of chunks/: every referenced chunk exists with a size its manifests claim. */
  async checkSizes(): Promise<void> {
    for (const m of this.byId.values()) {
      for (const e of entries(m)) {
        if (e.kind !== EntryKind.chunk) continue;
        const hex = idToHex(e.id);
        let s = this.claimed.get(hex);
        if (!s) this.claimed.set(hex, (s = new Set()));
        s.add(e.storedLength);
      }
    }
    this.progress.start('checkSizes', this.claimed.size);
    for await (const c of this.#vault.listChunks(this.#signalOpt)) {
      const hex = idToHex(c.id);
      this.listed.add(hex);
      if (this.claimed.has(hex)) {
        this.sizes.set(hex, c.size);
        this.progress.advance();
      }
    }
    for (const [hex, lens] of this.claimed) {
      const size = this.sizes.get(hex);
      if (size === undefined) this.#flag(hex, 'missing', 'object not found');
      else if (!lens.has(size) || lens.size > 1) {
        this.#flag(hex, 'wrong-size', `object is ${size} bytes, manifests say ${[...lens].join(' or ')}`);
      }
    }
    this.progress.end();
  }

  /** --deep: read the chunks (all, or a random sample) through Vault.readChunk. */
  async deepCheck(): Promise<void> {
    let todo = [...this.claimed.keys()].filter((h) => !this.damaged.has(h));
    if (this.#pct < 100) {
      const rnd = this.#opts.random ?? Math.random;
      const want = Math.min(todo.length, Math.ceil((todo.length * this.#pct) / 100));
      for (let i = 0; i < want; i++) {
        const j = i + Math.floor(rnd() * (todo.length - i));
        [todo[i], todo[j]] = [todo[j]!, todo[i]!];
      }
      todo = todo.slice(0, want);
    }
    this.progress.start('deepCheck', todo.length);
    await Promise.all(
      todo.map((hex) =>
        this.#limit(async () => {
          throwIfAborted(this.#opts.signal);
          try {
            await this.#vault.readChunk(Buffer.from(hex, 'hex'), this.#signalOpt);
          } catch (e) {
            if (isDamage(e, ErrorCodes.missingChunk)) return void this.#flag(hex, 'missing', 'object vanished while verifying');
            if (!isDamage(e, ErrorCodes.corruptChunk)) throw e;
            this.#flag(hex, 'corrupt', problemOf(e));
          }
          this.chunksFetched++;
          this.bytesFetched += this.sizes.get(hex) ?? 0;
          this.progress.advance();
        }),
      ),
    );
    this.progress.end();
  }

  /** Who needs the damaged chunks, at which offsets. */
  mapDamage(): void {
    this.progress.start('mapDamage', this.damaged.size ? this.byId.size : 0);
    if (this.damaged.size) {
      const dam = new Set([...this.damaged.keys()].map((h) => Buffer.from(h, 'hex').toString('latin1')));
      for (const m of this.byId.values()) {
        this.#mapOne(m, dam);
        this.progress.advance();
      }
    }
    this.progress.end();
  }

  #mapOne(m: Manifest, dam: Set<string>): void {
    const h = m.header;
    const chain = this.chains.get(h.backupId);
    const hits: { blockIndex: number; offset: number; id: string }[] = [];
    if (chain) {
      const map = BlockMap.fromChain(chain);
      for (let i = 0; i < map.blockCount; i++) {
        if (!map.hasChunk(i)) continue;
        const k = map.idAt(i).toString('latin1');
        if (dam.has(k)) hits.push({ blockIndex: i, offset: i * map.blockSize, id: k });
      }
    } else {
      for (const e of entries(m)) {
        const k = e.id.toString('latin1');
        if (e.kind === EntryKind.chunk && dam.has(k)) hits.push({ blockIndex: e.blockIndex, offset: e.blockIndex * h.blockSize, id: k });
      }
    }
    const per = new Map<string, AffectedBackup>();
    for (const hit of hits) {
      const hex = Buffer.from(hit.id, 'latin1').toString('hex');
      let a = per.get(hex);
      if (!a) {
        a = { backupId: h.backupId, volumeId: h.volumeId, blocks: [] };
        per.set(hex, a);
        this.damaged.get(hex)!.affected.push(a);
      }
      a.blocks.push({ blockIndex: hit.blockIndex, offset: hit.offset });
      this.affected.add(h.backupId);
    }
  }

  #flag(hex: string, problem: DamagedChunk['problem'], detail: string): void {
    this.damaged.set(hex, { chunk: hex, object: Layout.chunkKey(Buffer.from(hex, 'hex')), problem, detail, affected: [] });
  }
}

function isDamage(e: unknown, code: string): e is BlockvaultError {
  return e instanceof BlockvaultError && e.code === code;
}

/** The check that failed, without the "chunk <id> is corrupt:" lead. */
function problemOf(e: BlockvaultError): string {
  const i = e.message.indexOf('is corrupt: ');
  return i < 0 ? e.message : e.message.slice(i + 'is corrupt: '.length);
}
