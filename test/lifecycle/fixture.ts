// Shared by the lifecycle tests: a vault with a chain of backups of one changing image,
// and the SHA-256 of the image at each backup.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { backup, openVault, restore, verify, type Vault } from '../../src/index.js';
import { makeImage, overwrite, prng, sha256File, tempDir } from '../helpers/images.js';

export const BS = 65536;
export const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface Chain {
  dir: string;
  vaultDir: string;
  image: string;
  ids: string[];
  sha: Map<string, string>;
}

/** n backups of an 8-block image; each step changes a block or two (one becomes zero). */
export async function buildChain(name: string, n = 6, opts: { seed?: number; volumeId?: string; dir?: string } = {}): Promise<Chain> {
  const dir = opts.dir ?? (await tempDir(name));
  const vaultDir = path.join(dir, 'vault');
  const image = path.join(dir, `${opts.volumeId ?? 'vol-1'}.img`);
  await makeImage(image, { blockSize: BS, seed: opts.seed ?? 7, blocks: ['random', 'text', 'hole', 'random', 'repeat', 'random', 'zeros', 'text'] });
  const vault = await openVault(vaultDir, { create: true, blockSize: BS });
  const rnd = prng((opts.seed ?? 7) * 31 + 1);
  const ids: string[] = [];
  const sha = new Map<string, string>();
  try {
    for (let i = 0; i < n; i++) {
      if (i > 0) {
        const data = Buffer.alloc(BS);
        rnd.fill(data);
        await overwrite(image, (i % 8) * BS, data);
        if (i % 3 === 0) await overwrite(image, ((i + 3) % 8) * BS, Buffer.alloc(BS)); // a block becomes zero
        if (i === 4) await overwrite(image, 2 * BS, data.subarray(0, 1000)); // the hole gets data
      }
      const r = await backup(vault, { source: image, volumeId: opts.volumeId ?? 'vol-1' });
      ids.push(r.backupId);
      sha.set(r.backupId, await sha256File(image));
    }
  } finally {
    await vault.close();
  }
  return { dir, vaultDir, image, ids, sha };
}

/** Restores every listed backup that still exists and compares it bit for bit. */
export async function restoreAll(vault: Vault, chain: Chain, expect: (id: string, ok: boolean) => void): Promise<string[]> {
  vault.refresh();
  const present = (await vault.listBackups()).map((h) => h.backupId);
  for (const id of present) {
    const want = chain.sha.get(id);
    if (!want) continue;
    const out = path.join(chain.dir, `r-${id}.img`);
    await restore(vault, { backupId: id, target: out, force: true });
    expect(id, (await sha256File(out)) === want);
    await fs.rm(out, { force: true });
  }
  return present;
}

export async function verifyOk(vault: Vault): Promise<boolean> {
  const r = await verify(vault, { deep: true });
  return r.ok;
}

export function runScript(script: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [path.join(HERE, script), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done, out: () => stdout };
}
