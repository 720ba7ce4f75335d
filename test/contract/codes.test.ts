// Every documented data-plane code (control-plane-contract.md §5) is either produced by a
// situation made here, for real, or has a stated reason why the data plane never produces it.
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BlockvaultError,
  GC_LEASE_SCOPE,
  backup,
  deleteBackup,
  gc,
  getJob,
  openVault,
  prune,
  restore,
  serviceCodes,
  startJob,
  type ServiceOp,
  type Vault,
} from '../../src/index.js';
import { makeImage, tempDir } from '../helpers/images.js';
import { loopUnavailableReason } from '../helpers/loop.js';
import { Layout } from '../../src/vault/layout.js';
import { CODE_TABLE, PRODUCED } from './code-table.js';
import { contractCodes } from './contract-file.js';

const BS = 65536;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

/** What each situation produced: "situation → VBS / CBR". */
const seen = new Map<string, string[]>();
function record(situation: string, err: unknown, op: ServiceOp): { vbsCode: string; cbrCode: string } {
  expect(err, situation).toBeInstanceOf(BlockvaultError);
  const c = serviceCodes(err, op);
  for (const code of [c.vbsCode, c.cbrCode]) seen.set(code, [...(seen.get(code) ?? []), situation]);
  return c;
}
const fail = (p: Promise<unknown>) => p.then(
  () => {
    throw new Error('expected a failure');
  },
  (e: unknown) => e,
);

async function fixture(name: string): Promise<{ dir: string; vaultDir: string; image: string; vault: Vault; id: string }> {
  const dir = await tempDir(name);
  dirs.push(dir);
  const image = path.join(dir, 'disk.img');
  await makeImage(image, { blockSize: BS, seed: 3, blocks: ['random', 'text', 'random', 'random'] });
  const vaultDir = path.join(dir, 'vault');
  const vault = await openVault(vaultDir, { create: true, blockSize: BS });
  const b = await backup(vault, { source: image, volumeId: 'vol-1', workers: 0 });
  return { dir, vaultDir, image, vault, id: b.backupId };
}

describe('service error codes', () => {
  it('the busy matrix: the code follows what holds the volume', async () => {
    const { vault, image, id, dir } = await fixture('codes-busy');
    const cases: [string, Parameters<typeof vault.lease>[1], ServiceOp, () => Promise<unknown>, string, string][] = [
      ['backup during backup', 'backup', 'backup', () => backup(vault, { source: image, volumeId: 'vol-1' }), 'VolumeBackup.0013', 'BackupService.0002'],
      ['delete during backup', 'backup', 'delete', () => deleteBackup(vault, id), 'VolumeBackup.0013', 'BackupService.6125'],
      ['prune during backup', 'backup', 'prune', () => prune(vault, { volumeId: 'vol-1', policy: { keepLast: 1 } }), 'VolumeBackup.0013', 'BackupService.6125'],
      ['restore during backup', 'backup', 'restore', () => restore(vault, { backupId: id, target: path.join(dir, 'a.img') }), 'VolumeBackup.0206', 'BackupService.2002'],
      ['restore during restore', 'restore', 'restore', () => restore(vault, { backupId: id, target: path.join(dir, 'b.img') }), 'VolumeBackup.0205', 'BackupService.2010'],
      ['backup during restore', 'restore', 'backup', () => backup(vault, { source: image, volumeId: 'vol-1' }), 'VolumeBackup.0012', 'BackupService.2010'],
      ['delete during restore', 'restore', 'delete', () => deleteBackup(vault, id), 'VolumeBackup.0125', 'BackupService.6216'],
      ['prune during restore', 'restore', 'prune', () => prune(vault, { volumeId: 'vol-1', policy: { keepLast: 1 } }), 'VolumeBackup.0125', 'BackupService.6216'],
      ['restore during delete', 'delete', 'restore', () => restore(vault, { backupId: id, target: path.join(dir, 'c.img') }), 'VolumeBackup.0089', 'BackupService.2005'],
      ['delete during delete', 'delete', 'delete', () => deleteBackup(vault, id), 'VolumeBackup.0125', 'BackupService.6201'],
      ['prune during prune', 'prune', 'prune', () => prune(vault, { volumeId: 'vol-1', policy: { keepLast: 1 } }), 'VolumeBackup.0125', 'BackupService.6201'],
      ['backup during prune', 'prune', 'backup', () => backup(vault, { source: image, volumeId: 'vol-1' }), 'VolumeBackup.0012', 'BackupService.6215'],
      ['restore during prune', 'prune', 'restore', () => restore(vault, { backupId: id, target: path.join(dir, 'd.img') }), 'VolumeBackup.0089', 'BackupService.2005'],
    ];
    for (const [what, held, op, run, vbs, cbr] of cases) {
      const lease = await vault.lease('vol-1', held);
      try {
        const e = await fail(run());
        expect(record(what, e, op), what).toEqual({ vbsCode: vbs, cbrCode: cbr });
        // The error itself carries both, and its own code is the VBS one.
        expect(e, what).toMatchObject({ code: vbs, details: { vbsCode: vbs, cbrCode: cbr, busy: true } });
      } finally {
        await lease.release();
      }
    }
    const gcLease = await vault.lease(GC_LEASE_SCOPE, 'gc');
    try {
      expect(record('gc during gc', await fail(gc(vault)), 'gc')).toEqual({ vbsCode: 'VolumeBackup.p.0014', cbrCode: 'BackupService.9910' });
    } finally {
      await gcLease.release();
    }
    await vault.close();
  });

  it('not found, bad input, damaged data, a broken store, a newer vault format', async () => {
    const { vault, vaultDir, image, id, dir } = await fixture('codes-misc');
    expect(record('restore of an unknown backup', await fail(restore(vault, { backupId: 'nope', target: path.join(dir, 'x.img') })), 'restore')).toEqual({
      vbsCode: 'VolumeBackup.0111',
      cbrCode: 'BackupService.6200',
    });
    expect(record('unknown job', await fail(getJob(vault, 'nope')), 'backup')).toEqual({ vbsCode: 'common.0011', cbrCode: 'BackupService.6501' });
    expect(record('job type not available', await fail(startJob(vault, { type: 'export' })), 'backup')).toEqual({ vbsCode: 'VolumeBackup.p.0014', cbrCode: 'BackupService.9900' });
    expect(record('empty volume id', await fail(backup(vault, { source: image, volumeId: '' })), 'backup')).toEqual({ vbsCode: 'VolumeBackup.0010', cbrCode: 'BackupService.9900' });
    expect(record('bad volume id', await fail(backup(vault, { source: image, volumeId: 'a/b' })), 'backup')).toEqual({ vbsCode: 'VolumeBackup.0011', cbrCode: 'BackupService.9900' });
    expect(record('bad retention policy', await fail(prune(vault, { volumeId: 'vol-1', policy: { maxBackups: 3, retentionDays: 3 } })), 'prune')).toEqual({
      vbsCode: 'AutoBackup.0107',
      cbrCode: 'BackupService.9900',
    });
    expect(record('missing source', await fail(backup(vault, { source: path.join(dir, 'missing.img'), volumeId: 'vol-1' })), 'backup')).toEqual({
      vbsCode: 'VolumeBackup.0021',
      cbrCode: 'BackupService.7000',
    });
    await fs.writeFile(path.join(dir, 'taken.img'), 'something');
    expect(record('restore target exists', await fail(restore(vault, { backupId: id, target: path.join(dir, 'taken.img') })), 'restore')).toEqual({
      vbsCode: 'VolumeBackup.0205',
      cbrCode: 'BackupService.2011',
    });

    // A corrupt chunk: the restore fails.
    const chunks: string[] = [];
    for await (const c of vault.listChunks()) chunks.push(path.join(vaultDir, Layout.chunkKey(c.id)));
    const victim = chunks[0]!;
    const good = await fs.readFile(victim);
    const bad = Buffer.from(good);
    bad[bad.length - 10]! ^= 1;
    await fs.writeFile(victim, bad);
    expect(record('restore of a corrupt chunk', await fail(restore(vault, { backupId: id, target: path.join(dir, 'y.img') })), 'restore')).toEqual({
      vbsCode: 'VolumeBackup.0200',
      cbrCode: 'BackupService.9910',
    });
    await fs.writeFile(victim, good);

    // A store that fails under the backup: its chunk directory replaced by a file.
    const other = path.join(dir, 'other.img');
    await makeImage(other, { blockSize: BS, seed: 99, blocks: ['random', 'random'] });
    await fs.rename(path.join(vaultDir, 'chunks'), path.join(vaultDir, 'chunks.saved'));
    await fs.writeFile(path.join(vaultDir, 'chunks'), 'not a directory');
    const storeErr = await fail(backup(vault, { source: other, volumeId: 'vol-2', workers: 0 }));
    expect(storeErr).toMatchObject({ code: 'BV.Store' });
    expect(record('backup into a failing store', storeErr, 'backup')).toEqual({ vbsCode: 'VolumeBackup.0027', cbrCode: 'BackupService.9910' });
    // The same store failure in a delete is "failed to delete the backup".
    expect(record('delete on a failing store', storeErr, 'delete')).toEqual({ vbsCode: 'VolumeBackup.0125', cbrCode: 'BackupService.9910' });
    await fs.rm(path.join(vaultDir, 'chunks'));
    await fs.rename(path.join(vaultDir, 'chunks.saved'), path.join(vaultDir, 'chunks'));
    await vault.close();

    // A vault written by a newer version.
    const doc = JSON.parse(await fs.readFile(path.join(vaultDir, 'config'), 'utf8')) as { config: Record<string, unknown> };
    const config = { ...doc.config, formatVersion: 99 };
    const checksum = xxh64(Buffer.from(JSON.stringify(config, null, 2), 'utf8')).toString(16).padStart(16, '0');
    await fs.writeFile(path.join(vaultDir, 'config'), JSON.stringify({ config, checksum }));
    const fmt = await fail(openVault(vaultDir));
    expect(fmt).toMatchObject({ code: 'BV.VaultFormat' });
    expect(record('backup into a newer vault', fmt, 'backup')).toEqual({ vbsCode: 'VolumeBackup.0027', cbrCode: 'BackupService.6113' });
    expect(record('restore from a newer vault', fmt, 'restore')).toEqual({ vbsCode: 'VolumeBackup.0200', cbrCode: 'BackupService.6202' });
  });

  it.skipIf(process.getuid?.() !== 0)('a full vault disk is "backup quota bytes" / "vault over capacity"', async () => {
    const dir = await tempDir('codes-full');
    dirs.push(dir);
    const mnt = path.join(dir, 'mnt');
    await fs.mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
    try {
      const image = path.join(dir, 'big.img');
      await makeImage(image, { blockSize: BS, seed: 8, blocks: Array(16).fill('random') });
      const vault = await openVault(path.join(mnt, 'vault'), { create: true, blockSize: BS });
      const e = await fail(backup(vault, { source: image, volumeId: 'vol-1', workers: 0 }));
      expect(e).toMatchObject({ code: 'BV.NoSpace' });
      expect(record('backup filling the vault disk', e, 'backup')).toEqual({ vbsCode: 'VolumeBackup.0081', cbrCode: 'BackupService.6114' });
      await vault.close();
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  const loop = loopUnavailableReason();
  it.skipIf(loop !== undefined)('a restore target smaller than the backup: 0209 / 2001', async () => {
    const { vault, id, dir } = await fixture('codes-small');
    const file = path.join(dir, 'small.dev');
    await fs.writeFile(file, Buffer.alloc(BS));
    const dev = execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).trim();
    try {
      const e = await fail(restore(vault, { backupId: id, target: dev }));
      expect(record('restore to a smaller device', e, 'restore')).toEqual({ vbsCode: 'VolumeBackup.0209', cbrCode: 'BackupService.2001' });
    } finally {
      spawnSync('losetup', ['-d', dev]);
      await vault.close();
    }
  });

  it('every §5 code of the contract is produced above or has a stated reason', () => {
    const codes = contractCodes();
    expect(codes.length).toBeGreaterThan(150);
    const missing = codes.filter((c) => !CODE_TABLE[c]);
    expect(missing, 'codes in the contract that code-table.ts does not account for').toEqual([]);
    const stale = Object.keys(CODE_TABLE).filter((c) => !codes.includes(c));
    expect(stale, 'codes in code-table.ts that the contract does not list').toEqual([]);
    // Each code claimed as produced was produced by a situation in this file (the machine
    // permitting: the tmpfs and loop-device cases need root).
    const needsRoot = new Set(['VolumeBackup.0081', 'BackupService.6114', 'VolumeBackup.0209', 'BackupService.2001']);
    const rootOk = process.getuid?.() === 0 && loop === undefined;
    const notSeen = Object.entries(PRODUCED)
      .filter(([c, e]) => 'produced' in e && !seen.has(c) && (rootOk || !needsRoot.has(c)))
      .map(([c]) => c);
    expect(notSeen, 'codes claimed as produced that no situation produced').toEqual([]);
    const report = codes.map((c) => {
      const e = CODE_TABLE[c]!;
      return 'produced' in e ? `${c}  produced: ${(seen.get(c) ?? ['(needs root)']).join('; ')}` : 'mapped' in e ? `${c}  mapped: ${e.mapped} (untested: ${e.untested})` : `${c}  never: ${e.never}`;
    });
    console.log(report.join('\n'));
  });
});
