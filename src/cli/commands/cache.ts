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
    "where the local index cache of S3 vaults is and its size; clear it",
    ['blockvault cache', 'blockvault cache clear --vault s3://bucket/prefix', 'blockvault cache clear --all'],
    'The cache lives in $BLOCKVAULT_CACHE_DIR, else $XDG_CACHE_HOME/blockvault, else ~/.cache/blockvault ("off" disables it).\nIt only saves requests: clearing it is always safe.',
  );
  addOutputOptions(cache).action(async (opts: CommonOpts) => {
    const { cacheRoot, cachedVaults } = await import('../../vault/index-cache.js');
    const root = cacheRoot();
    const vaults = await cachedVaults();
    const bytes = vaults.reduce((n, v) => n + v.bytes, 0);
    emit(opts, { dir: root ?? null, enabled: root !== undefined, bytes, vaults }, () => {
      if (!root) return 'the index cache is off (BLOCKVAULT_CACHE_DIR=off)';
      const head = `${root}: ${formatBytes(bytes)} for ${vaults.length} vault${vaults.length === 1 ? '' : 's'}`;
      if (!vaults.length) return head;
      return head + '\n' + formatTable(
        [{ header: 'VAULT CACHE ID' }, { header: 'FILES', align: 'right' }, { header: 'SIZE', align: 'right' }],
        vaults.map((v) => [v.vaultId, String(v.files), formatBytes(v.bytes)]),
      ).replace(/^/gm, '  ');
    });
  });

  const clear = newCommand(cache, 'clear', "remove one vault's cache (--vault), or every vault's (--all)", [
    'blockvault cache clear --vault s3://bucket/prefix',
    'blockvault cache clear --all',
  ]).option('--all', "every vault's cache, including vaults that no longer exist");
  addVaultOptions(clear).action(async (opts: CommonOpts & { all?: boolean }) => {
    const { cachedVaults, clearCachedVault } = await import('../../vault/index-cache.js');
    const before = await cachedVaults();
    let ids: string[];
    if (opts.all) ids = before.map((v) => v.vaultId);
    else if (opts.vault || opts.vaultFile || process.env.BLOCKVAULT_VAULT) ids = [await vaultIdOf(opts)];
    else throw usageError(clear, 'say which cache: --vault V (or $BLOCKVAULT_VAULT) for one vault, or --all');
    for (const id of ids) await clearCachedVault(id);
    const freed = before.filter((v) => ids.includes(v.vaultId)).reduce((n, v) => n + v.bytes, 0);
    emit(opts, { cleared: ids, bytes: freed }, () => `cleared ${ids.length} vault cache${ids.length === 1 ? '' : 's'}, ${formatBytes(freed)} freed`);
  });
}
