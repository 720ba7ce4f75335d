// Verify: every manifest parses (checksum), every chain resolves, and every chunk a
// manifest names exists with the stored length the manifest says (quick: one LIST of
// chunks/, no GET). --deep also fetches chunks (all, or a random sample of the distinct
// ones), checks the frame checksum, decompresses and checks the keyed identity. The report
// names each damaged chunk (id, object key, what is wrong) and every backup and block
// offset whose restore point needs it.
import pLimit from 'p-limit';
import { idToHex } from '../chunk/identity.js';
import { BlockvaultError, ErrorCodes, throwIfAborted } from '../errors.js';
import { BlockMap } from '../vault/block-map.js';
import { Layout } from '../vault/layout.js';
import { EntryKind, entries, type Manifest } from '../vault/manifest.js';
import type { Vault } from '../vault/vault.js';

export interface VerifyOptions {
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
  elapsedMs: number;
}

export async function verify(vault: Vault, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const started = Date.now();
  const limit = pLimit(Math.max(1, opts.concurrency ?? 8));
  const pct = opts.deep ? Math.min(100, Math.max(0, opts.samplePercent ?? 100)) : 0;

  // manifests
  const prefix = opts.volumeId ? Layout.manifestVolumePrefix(opts.volumeId) : Layout.manifestPrefix;
  const keys: string[] = [];
  for await (const o of vault.meta.list(prefix)) if (Layout.isManifestKey(o.key)) keys.push(o.key);
  const byId = new Map<string, Manifest>();
  const damagedManifests: VerifyResult['damagedManifests'] = [];
  const damagedIds = new Set<string>();
  await Promise.all(
    keys.map((key) =>
      limit(async () => {
        throwIfAborted(opts.signal);
        const backupId = Layout.backupIdFromManifestKey(key);
        try {
          const m = await vault.readManifestAt(key, opts.signal ? { signal: opts.signal } : {});
          if (m) byId.set(m.header.backupId, m); // else deleted meanwhile
        } catch (e) {
          if (!isDamage(e, ErrorCodes.vaultDamaged)) throw e;
          damagedManifests.push({ object: key, backupId, problem: (e as Error).message });
          damagedIds.add(backupId);
        }
      }),
    ),
  );

  // chains
  const brokenChains: VerifyResult['brokenChains'] = [];
  const chains = new Map<string, Manifest[]>();
  for (const m of byId.values()) {
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
      cur = byId.get(pid);
      if (!cur) problem = damagedIds.has(pid) ? `parent ${pid} is damaged` : `parent ${pid} is missing`;
    }
    if (problem) brokenChains.push({ backupId: m.header.backupId, volumeId: m.header.volumeId, problem });
    else chains.set(m.header.backupId, chain);
  }

  // referenced chunks and the stored lengths their manifests claim
  const claimed = new Map<string, Set<number>>();
  for (const m of byId.values()) {
    for (const e of entries(m)) {
      if (e.kind !== EntryKind.chunk) continue;
      const hex = idToHex(e.id);
      let s = claimed.get(hex);
      if (!s) claimed.set(hex, (s = new Set()));
      s.add(e.storedLength);
    }
  }

  // quick: one LIST
  const sizes = new Map<string, number>();
  for await (const c of vault.listChunks(opts.signal ? { signal: opts.signal } : {})) {
    const hex = idToHex(c.id);
    if (claimed.has(hex)) sizes.set(hex, c.size);
  }
  const damaged = new Map<string, DamagedChunk>();
  const keyOf = (hex: string) => vault.chunkKey(Buffer.from(hex, 'hex'));
  const flag = (hex: string, problem: DamagedChunk['problem'], detail: string) =>
    damaged.set(hex, { chunk: hex, object: keyOf(hex), problem, detail, affected: [] });
  for (const [hex, lens] of claimed) {
    const size = sizes.get(hex);
    if (size === undefined) flag(hex, 'missing', 'object not found');
    else if (!lens.has(size) || lens.size > 1) {
      flag(hex, 'wrong-size', `object is ${size} bytes, manifests say ${[...lens].join(' or ')}`);
    }
  }

  // deep
  let chunksFetched = 0;
  let bytesFetched = 0;
  if (opts.deep) {
    let todo = [...claimed.keys()].filter((h) => !damaged.has(h));
    if (pct < 100) {
      const rnd = opts.random ?? Math.random;
      const want = Math.min(todo.length, Math.ceil((todo.length * pct) / 100));
      for (let i = 0; i < want; i++) {
        const j = i + Math.floor(rnd() * (todo.length - i));
        [todo[i], todo[j]] = [todo[j]!, todo[i]!];
      }
      todo = todo.slice(0, want);
    }
    await Promise.all(
      todo.map((hex) =>
        limit(async () => {
          throwIfAborted(opts.signal);
          try {
            await vault.readChunk(Buffer.from(hex, 'hex'), opts.signal ? { signal: opts.signal } : {});
          } catch (e) {
            if (isDamage(e, ErrorCodes.missingChunk)) return void flag(hex, 'missing', 'object vanished while verifying');
            if (isDamage(e, ErrorCodes.corruptChunk)) {
              chunksFetched++;
              bytesFetched += sizes.get(hex) ?? 0;
              return void flag(hex, 'corrupt', problemOf(e));
            }
            throw e;
          }
          chunksFetched++;
          bytesFetched += sizes.get(hex) ?? 0;
        }),
      ),
    );
  }

  // who needs the damaged chunks, at which offsets
  const affectedBackups = new Set<string>(brokenChains.map((b) => b.backupId));
  if (damaged.size) {
    const dam = new Set([...damaged.keys()].map((h) => Buffer.from(h, 'hex').toString('latin1')));
    for (const m of byId.values()) {
      const h = m.header;
      const chain = chains.get(h.backupId);
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
          damaged.get(hex)!.affected.push(a);
        }
        a.blocks.push({ blockIndex: hit.blockIndex, offset: hit.offset });
        affectedBackups.add(h.backupId);
      }
    }
  }
  for (const d of damagedManifests) affectedBackups.add(d.backupId);

  const damagedChunks = [...damaged.values()].sort((a, b) => a.chunk.localeCompare(b.chunk));
  for (const d of damagedChunks) d.affected.sort((a, b) => a.backupId.localeCompare(b.backupId));
  return {
    ok: damagedChunks.length === 0 && damagedManifests.length === 0 && brokenChains.length === 0,
    deep: !!opts.deep,
    samplePercent: pct,
    manifests: byId.size,
    chunksReferenced: claimed.size,
    chunksFetched,
    bytesFetched,
    damagedManifests,
    brokenChains,
    damagedChunks,
    affectedBackups: [...affectedBackups].sort(),
    elapsedMs: Date.now() - started,
  };
}

function isDamage(e: unknown, code: string): e is BlockvaultError {
  return e instanceof BlockvaultError && e.code === code;
}

/** The check that failed, without the "chunk <id> is corrupt:" lead. */
function problemOf(e: BlockvaultError): string {
  const i = e.message.indexOf('is corrupt: ');
  return i < 0 ? e.message : e.message.slice(i + 'is corrupt: '.length);
}
