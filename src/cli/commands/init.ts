import type { Command } from 'commander';
import { formatBytes } from '../../metrics/units.js';
import { newCommand } from '../command.js';
import { emit, withVault } from '../context.js';
import { addVaultOptions, parseCompression, parseSizeOption, type CommonOpts } from '../options.js';

interface InitOpts extends CommonOpts {
  blockSize?: number;
  compression?: 'lz4' | 'none';
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'init',
    'create a vault (a backup creates one too, with the defaults)',
    ['blockvault init --vault ./vault', 'blockvault init --vault s3://bucket/prefix --block-size 1MiB --create-bucket'],
  )
    .option('--block-size <size>', 'a power of two from 64KiB to 16MiB, fixed for the vault (default 4MiB)', parseSizeOption)
    .option('--compression <lz4|none>', 'chunk compression (default lz4)', parseCompression);
  addVaultOptions(cmd, true).action(async (opts: InitOpts) => {
    await withVault(
      opts,
      async (vault) => {
        emit(opts, { vault: vault.url, ...vault.config, hashKey: undefined }, () =>
          `vault ${vault.url}: block size ${formatBytes(vault.blockSize)}, compression ${vault.config.compression}`,
        );
      },
      { create: true, blockSize: opts.blockSize, compression: opts.compression },
    );
  });
}
