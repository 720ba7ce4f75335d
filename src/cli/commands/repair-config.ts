import type { Command } from 'commander';
import { newCommand, usageError } from '../command.js';
import { emit, storeOptions, underCancellation, vaultLocation } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';

interface RepairOpts extends CommonOpts {
  replaceDamaged?: boolean;
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'repair-config',
    "put a lost or damaged vault config back from the vault's own copy (meta/config.copy)",
    ['blockvault repair-config --vault ./vault', 'blockvault repair-config --vault s3://bucket/prefix --replace-damaged'],
    `The copy's hash key is checked against a stored chunk before it is written back.
A sound config is left as it is (and its copy made if the vault had none).`,
  ).option('--replace-damaged', 'also replace a config that is present but does not decode');
  addVaultOptions(cmd).action(async (opts: RepairOpts) => {
    // The repair reads the config's copy and a chunk's frame, never a key: a key flag given here would do nothing.
    if (opts.passwordFile !== undefined || opts.passwordCommand !== undefined || opts.keyFile !== undefined) {
      throw usageError(cmd, 'repair-config uses no key (--password-file, --password-command, --key-file)', 'run it without the key flags');
    }
    const { repairVaultConfig } = await import('../../vault/config-store.js');
    const r = await underCancellation(() => repairVaultConfig(vaultLocation(opts), { ...storeOptions(opts), replaceDamaged: opts.replaceDamaged }));
    emit(opts, { ...r }, () =>
      r.repaired
        ? `config of vault ${r.vaultId} written back from its copy${r.checkedChunk ? ` (checked against chunk ${r.checkedChunk})` : ''}`
        : `config of vault ${r.vaultId} is sound; nothing to repair`,
    );
  });
}
