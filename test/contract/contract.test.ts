// Walks the contract's field list (§1 tables of control-plane-contract.md) and shows, for
// each field, the value the engine produces with its type and unit — or why it does not.
// A field added to the contract fails this test until field-table.ts accounts for it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  backup,
  isPendingBackup,
  listBackups,
  openVault,
  showBackup,
  startBackup,
  vaultStats,
  type PendingBackup,
} from '../../src/index.js';
import { makeImage, overwrite, tempDir } from '../helpers/images.js';
import { contractFields } from './contract-file.js';
import { FIELD_TABLE, type FieldContext, type FieldType } from './field-table.js';

const BS = 65536;
let dir = '';
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

function typeOf(v: unknown): FieldType | 'undefined' | 'null' {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v as FieldType;
}

describe('the control-plane contract, field by field', () => {
  it('every field of the contract is produced with its documented type, or has a stated reason', async () => {
    dir = await tempDir('contract');
    const image = path.join(dir, 'disk.img');
    await makeImage(image, { blockSize: BS, seed: 21, blocks: ['random', 'text', 'hole', 'random', 'repeat', 'random', 'zeros', 'text'] });
    const vault = await openVault(path.join(dir, 'vault'), { create: true, blockSize: BS });
    await backup(vault, { source: image, volumeId: 'vol-1', bootable: true, workers: 0 });
    await overwrite(image, 3 * BS, Buffer.alloc(BS, 9));
    const job = await startBackup(vault, {
      source: image,
      volumeId: 'vol-1',
      backupId: 'inc-1',
      snapshotId: '665e411f5d87431ca98c199fbd4a64fd',
      snapshotTime: '2026-11-30T23:00:00Z',
      description: 'nightly',
      automatic: true,
      workers: 0,
    });
    const done = await job.done;
    // A backup that fails: its source vanishes before the job opens it.
    const failing = await startBackup(vault, { source: path.join(dir, 'gone.img'), volumeId: 'vol-1', backupId: 'bad-1', workers: 0 });
    const failedJob = await failing.done;
    const shown = await showBackup(vault, 'inc-1');
    if (isPendingBackup(shown)) throw new Error('inc-1 should have a manifest');
    const failed = (await listBackups(vault, { status: 'error' }))[0] as PendingBackup;
    const ctx: FieldContext = {
      backup: shown,
      md: JSON.parse(shown.service_metadata) as Record<string, unknown>,
      description: JSON.parse(shown.description) as Record<string, unknown>,
      job: done,
      failedJob,
      failed,
      stats: await vaultStats(vault),
    };
    await vault.close();

    const fields = contractFields();
    expect(fields.length).toBeGreaterThan(120);
    expect(fields.filter((f) => !FIELD_TABLE[f]), 'contract fields field-table.ts does not account for').toEqual([]);
    expect(Object.keys(FIELD_TABLE).filter((f) => !fields.includes(f)), 'fields in field-table.ts the contract does not list').toEqual([]);

    const rows: string[] = [];
    const wrong: string[] = [];
    let produced = 0;
    for (const f of fields) {
      const e = FIELD_TABLE[f]!;
      if ('not' in e) {
        rows.push(`${f.padEnd(36)} not produced: ${e.not}`);
        continue;
      }
      const v = e.get(ctx);
      const t = typeOf(v);
      // A float field may hold a whole value (AT 125.0 is 125 in JSON).
      if (t !== e.type && !(e.type === 'number' && t === 'integer')) wrong.push(`${f}: ${t} (${JSON.stringify(v)}), documented ${e.type}`);
      produced++;
      rows.push(`${f.padEnd(36)} ${t.padEnd(8)} ${JSON.stringify(v)}${e.unit ? `  [${e.unit}]` : ''}${e.note ? `  (${e.note})` : ''}`);
    }
    console.log(`${produced} of ${fields.length} contract fields produced\n${rows.join('\n')}`);
    expect(wrong, 'fields produced with the wrong type, or missing').toEqual([]);
    // The values this wave set out to fix, checked exactly.
    expect(ctx.md).toMatchObject({ Type: 1, bootable: true, snap_id: '665e411f5d87431ca98c199fbd4a64fd', progress: 100 });
    expect(ctx.description).toEqual({ DESC: 'nightly', INC: 1 });
    expect(shown.data_timestamp).toBe('2026-11-30T23:00:00.000000');
    expect(shown.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    expect(shown.extend_info).toEqual({ auto_trigger: true, bootable: true, snapshot_id: '665e411f5d87431ca98c199fbd4a64fd', supported_restore_mode: 'backup', support_lld: false, encrypted: false });
    expect(failedJob).toMatchObject({ status: 'FAIL', error_code: 'VolumeBackup.0021', cbr_error_code: 'BackupService.7000' });
    expect(failed).toMatchObject({ backupId: 'bad-1', status: 'error', error_code: 'VolumeBackup.0021' });
  });
});
