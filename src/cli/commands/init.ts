import type { Command } from 'commander';
import { formatBytes } from '../../metrics/units.js';
import { newCommand } from '../command.js';
import { emit, openVaultFrom, withVault } from '../context.js';
import { UsageError } from '../usage-error.js';
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
    await refuseExisting(opts);
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

/** init makes a vault; one that is there already is refused (its settings are fixed). */
async function refuseExisting(opts: InitOpts): Promise<void> {
  const { BlockvaultError, ErrorCodes } = await import('../../errors.js');
  let existing;
  try {
    existing = await openVaultFrom({ ...opts, createBucket: false });
  } catch (e) {
    // Not there (no config, no directory, no bucket yet): init goes on. Anything else — a
    // damaged or lost config, an unreachable store — is reported as it is.
    if (e instanceof BlockvaultError && e.code === ErrorCodes.notFound) return;
    if ((e as { category?: string }).category === 'notFound') return; // an S3 bucket not made yet
    throw e;
  }
  const url = existing.url;
  const bs = formatBytes(existing.blockSize);
  await existing.close().catch(() => {});
  throw new UsageError(`a vault already exists at ${url} (block size ${bs}); init makes a new one`, {
    hint: 'use it as it is, or give init another --vault location',
    details: { vault: url, exists: true },
  });
}
