// `npm run demo`: make a sample disk image, back it up (full), change it, back it up again
// (incremental), restore both points, prove them bit-exact and print each backup's metrics.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backup, formatBytes, isPendingBackup, openVault, restore, showBackup, type BackupResult, type ProgressEvent } from '../src/index.js';

const MiB = 1024 * 1024;
const SIZE = 512 * MiB;

/** A seeded xorshift32 stream: the same image every run. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const WORDS = 'boot kernel initrd grub etc passwd usr lib systemd journal ext4 inode extent block sector partition'.split(' ');

/** Regions of 1 MiB: holes, text-like files, random (already compressed) data, and copies. */
async function makeSampleImage(file: string): Promise<void> {
  const next = rng(42);
  const fh = await fs.open(file, 'w');
  await fh.truncate(SIZE);
  const copies: Buffer[] = [];
  for (let off = 0; off < SIZE; off += MiB) {
    const r = next() % 100;
    let buf: Buffer | undefined;
    if (r < 40) continue; // hole: never written, never read by the backup
    if (r < 70) {
      const lines: string[] = [];
      for (let n = 0; n < MiB; ) {
        const line = `${WORDS[next() % WORDS.length]} ${WORDS[next() % WORDS.length]} ${next() % 65536}\n`;
        lines.push(line);
        n += line.length;
      }
      buf = Buffer.from(lines.join('')).subarray(0, MiB);
    } else if (r < 95 || copies.length === 0) {
      buf = Buffer.alloc(MiB);
      for (let i = 0; i < MiB; i += 4) buf.writeUInt32LE(next(), i);
    } else buf = copies[next() % copies.length]!;
    if (copies.length < 16) copies.push(buf);
    await fh.write(buf, 0, MiB, off);
  }
  await fh.close();
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of (await fs.open(file)).createReadStream()) h.update(chunk as Buffer);
  return h.digest('hex');
}

function progress(label: string) {
  return (e: ProgressEvent) => {
    if (process.stdout.isTTY) process.stdout.write(`\r  ${label}: ${e.progress}% at ${e.throughputMBps} MB/s   `);
  };
}

function report(title: string, b: BackupResult): void {
  if (process.stdout.isTTY) process.stdout.write('\r' + ' '.repeat(60) + '\r');
  const c = b.counters;
  const md = JSON.parse(b.service_metadata);
  console.log(`\n${title}: ${b.backupId}${b.parentId ? ` (parent ${b.parentId})` : ''}`);
  console.log(`  scanned ${formatBytes(c.bytesScanned)} in ${(b.elapsedMs / 1000).toFixed(2)} s`);
  console.log(`  read ${formatBytes(c.bytesRead)}, holes skipped ${formatBytes(c.bytesSparse)}, zero ${formatBytes(c.bytesZero)}, ` +
    `unchanged ${formatBytes(c.bytesUnchanged)}, deduplicated ${formatBytes(c.bytesDeduplicated)}`);
  console.log(`  compressed ${formatBytes(c.bytesCompressedIn)} → ${formatBytes(c.bytesCompressedOut)}; ` +
    `stored ${formatBytes(b.newStoredBytes)} in ${b.newChunkCount} new chunk objects`);
  console.log(`  service fields: size=${b.size} GB object_count=${b.object_count} is_incremental=${b.is_incremental}`);
  console.log(`  service_metadata: DL=${md.DL} Type=${md.Type} AT=${md.AT} MB/s SS=${md.SS}% CS=${md.CS} MB BackupSize=${md.BackupSize} MB progress=${md.progress}`);
}

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'blockvault-demo-'));
  const image = path.join(dir, 'disk.img');
  const vaultDir = path.join(dir, 'vault');
  try {
    console.log(`blockvault demo in ${dir}`);
    await makeSampleImage(image);
    const st = await fs.stat(image);
    console.log(`sample disk image: ${formatBytes(st.size)}, ${formatBytes(st.blocks * 512)} allocated`);

    const vault = await openVault(vaultDir, { create: true });
    const full = await backup(vault, { source: image, volumeId: 'demo-vol', onProgress: progress('full backup') });
    report('full backup', full);
    const fullSha = await sha256(image);

    // Change ~1 %: a few scattered 1 MiB writes, like a running system would make.
    const fh = await fs.open(image, 'r+');
    const next = rng(7);
    for (let i = 0; i < 5; i++) {
      const buf = Buffer.alloc(MiB);
      for (let j = 0; j < MiB; j += 4) buf.writeUInt32LE(next(), j);
      await fh.write(buf, 0, MiB, (next() % (SIZE / MiB)) * MiB);
    }
    await fh.close();
    const inc = await backup(vault, { source: image, volumeId: 'demo-vol', onProgress: progress('incremental') });
    report('incremental backup', inc);
    const incSha = await sha256(image);

    for (const [label, b, want] of [
      ['full', full, fullSha],
      ['incremental', inc, incSha],
    ] as const) {
      const out = path.join(dir, `restored-${label}.img`);
      const r = await restore(vault, { backupId: b.backupId, target: out, onProgress: progress(`restore ${label}`) });
      const ok = (await sha256(out)) === want;
      if (process.stdout.isTTY) process.stdout.write('\r' + ' '.repeat(60) + '\r');
      console.log(`\nrestore of the ${label} backup: ${formatBytes(r.volumeSize)} in ${(r.elapsedMs / 1000).toFixed(2)} s ` +
        `(${r.throughputMBps} MB/s), ${r.counters.chunksVerified} chunks verified, bit-exact: ${ok ? 'yes' : 'NO'}`);
      if (!ok) throw new Error(`restored ${label} image differs from the original`);
      await fs.rm(out);
    }
    const shown = await showBackup(vault, full.backupId);
    if (isPendingBackup(shown)) throw new Error(`backup ${full.backupId} is ${shown.status}`);
    console.log(`\nthe full backup now has_dependent_backups=${shown.has_dependent_backups}, CS=${JSON.parse(shown.serviceMetadata).CS} MB for its chain`);
    await vault.close();
    console.log(`\ndone: try the CLI on your own image, e.g.\n  npx blockvault backup disk.img --vault ./vault --volume vol-1`);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`demo failed: ${e?.describe?.() ?? e?.stack ?? e}`);
  process.exit(1);
});
