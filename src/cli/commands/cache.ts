import type { Command } from 'commander';
import { formatBytes } from '../../metrics/units.js';
import { newCommand, usageError } from '../command.js';
import { emit, openVaultFrom } from '../context.js';
import { addOutputOptions, addVaultOptions, type CommonOpts } from '../options.js';
import { formatTable } from '../table.js';

/** The cache id of the vault the options name (its config gives the hash key). */
async function vaultIdOf(opts: CommonOpts): Promise<string> {
  const { vaultCacheId } = await import('../../vault/index-cache.js');
  const vault = await openVaultFrom(opts);
  try {
    return vaultCacheId(vault.config.hashKey);
  } finally {
    await vault.close().catch(() => {});
  }
}

export function register(program: Command): void {
  const cache = newCommand(
    program,
    'cache',
    "where this host's copy of each vault's chunk index is and its size; clear it",
    ['blockvault cache', 'blockvault cache clear --vault s3://bucket/prefix', 'blockvault cache clear --all'],
    'The cache lives in $BLOCKVAULT_CACHE_DIR, else $XDG_CACHE_HOME/blockvault, else ~/.cache/blockvault ("off" disables it).\nIt only saves requests: clearing it is always safe.',
  );
  addOutputOptions(cache).action(async (opts: CommonOpts) => {
    const { indexCacheInfo } = await import('../../vault/index-cache.js');
    const { dir, bytes, vaults } = await indexCacheInfo();
    const root = dir || undefined;
    emit(opts, { dir: root ?? null, enabled: root !== undefined, bytes, vaults }, () => {
      if (!root) return 'the index cache is off (BLOCKVAULT_CACHE_DIR=off): every load builds a temporary copy';
      const head = `${root}: ${formatBytes(bytes)} for ${vaults.length} vault${vaults.length === 1 ? '' : 's'}`;
      if (!vaults.length) return head;
      return head + '\n' + formatTable(
        [{ header: 'VAULT CACHE ID' }, { header: 'SEGMENTS', align: 'right' }, { header: 'SIZE', align: 'right' }],
        vaults.map((v) => [v.id, String(v.segments), formatBytes(v.bytes)]),
      ).replace(/^/gm, '  ');
    });
  });

  const clear = newCommand(cache, 'clear', "remove one vault's cache (--vault), or every vault's (--all)", [
    'blockvault cache clear --vault s3://bucket/prefix',
    'blockvault cache clear --all',
  ]).option('--all', "every vault's cache, including vaults that no longer exist");
  addVaultOptions(clear).action(async (opts: CommonOpts & { all?: boolean }) => {
    const { clearIndexCache } = await import('../../vault/index-cache.js');
    let vaultId: string | undefined;
    if (opts.all) vaultId = undefined;
    else if (opts.vault || opts.vaultFile || process.env.BLOCKVAULT_VAULT) vaultId = await vaultIdOf(opts);
    else throw usageError(clear, 'say which cache: --vault V (or $BLOCKVAULT_VAULT) for one vault, or --all');
    const r = await clearIndexCache({ vaultId });
    emit(opts, { cleared: r.vaults, bytes: r.removedBytes }, () => `cleared ${r.vaults.length} vault cache${r.vaults.length === 1 ? '' : 's'}, ${formatBytes(r.removedBytes)} freed`);
  });
}
