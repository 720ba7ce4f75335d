import type { Command } from 'commander';
import { formatBytes } from '../../metrics/units.js';
import { shortIds } from '../backup-ids.js';
import { newCommand } from '../command.js';
import { emit, withVault } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';
import { formatTable, shortTime } from '../table.js';

export function register(program: Command): void {
  const cmd = newCommand(program, 'stats', "used space of the vault, its volumes and backups", [
    'blockvault stats --vault ./vault',
    'blockvault stats --vault s3://bucket/prefix --json',
  ]);
  addVaultOptions(cmd).action(async (opts: CommonOpts) => {
    const { vaultStats } = await import('../../engine/stats.js');
    await withVault(opts, async (vault) => {
      const r = await vaultStats(vault);
      emit(opts, r, () => {
        const n = (k: number, one: string) => `${k} ${one}${k === 1 ? '' : 's'}`;
        const out = [
          `vault ${r.vault}: ${formatBytes(r.usedBytes)} used in ${n(r.objectCount, 'object')}; ` +
            `${n(r.chunkObjects, 'chunk')}, ${r.unreferencedChunks} unreferenced (${formatBytes(r.unreferencedBytes)})`,
        ];
        for (const vol of r.volumes) {
          const short = shortIds(vol.backups.map((b) => b.backupId));
          out.push(`volume ${vol.volumeId}: ${n(vol.backupCount, 'backup')}, ${formatBytes(vol.storedBytes)} stored (service size ${vol.storedGB} GB)`);
          const table = formatTable(
            [{ header: 'ID' }, { header: 'TYPE' }, { header: 'CREATED (UTC)' }, { header: 'EXCLUSIVE', align: 'right' }, { header: 'SHARED', align: 'right' }, { header: 'CS MB', align: 'right' }],
            vol.backups.map((b) => [short.get(b.backupId)!, b.type, shortTime(b.createdAt), formatBytes(b.exclusiveBytes), formatBytes(b.sharedBytes), String(b.chainSizeMB)]),
          );
          out.push(table.replace(/^/gm, '  '));
        }
        return out.join('\n');
      });
    });
  });
}
