import type { Command } from 'commander';
import type { EncryptOptions } from '../../crypto/vault-crypto.js';
import { formatBytes } from '../../metrics/units.js';
import { newCommand, usageError } from '../command.js';
import { emit, openVaultFrom, vaultLocation, withVault } from '../context.js';
import { UsageError } from '../usage-error.js';
import { addVaultOptions, parseCompression, parseSizeOption, type CommonOpts } from '../options.js';

interface InitOpts extends CommonOpts {
  blockSize?: number;
  compression?: 'lz4' | 'none';
  encrypt?: boolean;
  label?: string;
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'init',
    'create a vault (a backup creates one too, with the defaults)',
    [
      'blockvault init --vault ./vault',
      'blockvault init --vault s3://bucket/prefix --block-size 1MiB --create-bucket',
      'blockvault init --vault s3://bucket/prefix --encrypt --password-file ./pw',
      'blockvault init --vault ./vault --encrypt --key-file ./vault.key      # made if it does not exist',
    ],
    `An existing vault is refused: its block size, compression and encryption are fixed.
--encrypt makes every chunk, manifest and index segment AES-256-GCM under a data key that the
first key wraps: a passphrase (--password-file, --password-command, $BLOCKVAULT_PASSWORD,
$BLOCKVAULT_PASSWORD_FILE) or a key file (--key-file, $BLOCKVAULT_KEY_FILE; a file that does
not exist is made with 32 random bytes, mode 0600). More keys: \`blockvault key add\`.`,
  )
    .option('--block-size <size>', 'a power of two from 64KiB to 16MiB, fixed for the vault (default 4MiB)', parseSizeOption)
    .option('--compression <lz4|none>', 'chunk compression (default lz4)', parseCompression)
    .option('--encrypt', 'encrypt the vault with the key given (see below)')
    .option('--label <text>', 'with --encrypt: a note on the first key, shown by `key list`');
  addVaultOptions(cmd, true).action(async (opts: InitOpts) => {
    const flagged = opts.passwordFile !== undefined || opts.passwordCommand !== undefined || opts.keyFile !== undefined;
    if (!opts.encrypt && flagged) throw usageError(cmd, 'a key (--password-file, --password-command, --key-file) needs --encrypt', 'add --encrypt to make an encrypted vault');
    if (!opts.encrypt && opts.label !== undefined) throw usageError(cmd, '--label needs --encrypt');
    await refuseExisting(opts);
    let encrypt: EncryptOptions | undefined;
    let madeKeyFile: string | undefined;
    if (opts.encrypt) {
      const { keysInEffect, makeKeyFile } = await import('../key-input.js');
      const { stat } = await import('node:fs/promises');
      if (opts.keyFile !== undefined && !(await stat(opts.keyFile).catch(() => undefined))) {
        await makeKeyFile(opts.keyFile);
        madeKeyFile = opts.keyFile;
      }
      const keys = await keysInEffect(opts);
      if (keys?.passphrase === undefined && keys?.keyFile === undefined) {
        throw usageError(cmd, '--encrypt needs a key', 'give --password-file FILE, --password-command CMD or --key-file FILE (or set BLOCKVAULT_PASSWORD / BLOCKVAULT_KEY_FILE)');
      }
      // The first way in: the passphrase when one is given, else the key file.
      encrypt = keys.passphrase !== undefined ? { passphrase: keys.passphrase } : { keyFile: keys.keyFile! };
      if (opts.label !== undefined) encrypt.label = opts.label;
    }
    try {
      await withVault(
        opts,
        async (vault) => {
          const keys = vault.encrypted ? (await vault.listKeys()).map((k) => ({ id: k.id, kind: k.kind, domain: k.domain, label: k.label ?? null })) : [];
          const result = { vault: vault.url, ...vault.config, hashKey: undefined, encrypted: vault.encrypted, keys, ...(madeKeyFile ? { keyFileMade: madeKeyFile } : {}) };
          emit(opts, result, () =>
            [
              `vault ${vault.url}: block size ${formatBytes(vault.blockSize)}, compression ${vault.config.compression}` +
                (vault.encrypted ? `, encrypted (key ${keys.map((k) => `${k.id} ${k.kind}`).join(', ')})` : ''),
              ...(madeKeyFile ? [`  made key file ${madeKeyFile}: keep it safe, it opens the vault`] : []),
            ].join('\n'),
          );
        },
        { create: true, blockSize: opts.blockSize, compression: opts.compression, ...(encrypt ? { encrypt } : {}) },
      );
    } catch (e) {
      if (madeKeyFile) await (await import('node:fs/promises')).rm(madeKeyFile, { force: true }); // it opens nothing
      throw e;
    }
  });
}

/** init makes a vault; one that is there already is refused (its settings are fixed). */
async function refuseExisting(opts: InitOpts): Promise<void> {
  const { BlockvaultError, ErrorCodes } = await import('../../errors.js');
  let existing;
  try {
    existing = await openVaultFrom({ ...opts, createBucket: false });
  } catch (e) {
    // Not there (no config, no directory, no bucket yet): init goes on. An encrypted vault
    // the keys given do not open is there; anything else — a damaged or lost config, an
    // unreachable store — is reported as it is.
    if (e instanceof BlockvaultError && e.code === ErrorCodes.notFound) return;
    if ((e as { category?: string }).category === 'notFound') return; // an S3 bucket not made yet
    if (e instanceof BlockvaultError && Array.isArray(e.details.keyIds)) {
      throw new UsageError(`an encrypted vault already exists at ${vaultLocation(opts)}; init makes a new one`, {
        hint: 'use it as it is (with one of its keys), or give init another --vault location',
        details: { exists: true, encrypted: true, keyIds: e.details.keyIds },
      });
    }
    throw e;
  }
  const url = existing.url;
  const what = `${existing.encrypted ? 'encrypted, ' : ''}block size ${formatBytes(existing.blockSize)}`;
  await existing.close().catch(() => {});
  throw new UsageError(`a vault already exists at ${url} (${what}); init makes a new one`, {
    hint: 'use it as it is, or give init another --vault location',
    details: { vault: url, exists: true },
  });
}

