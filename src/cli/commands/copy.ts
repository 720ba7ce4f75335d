import type { Command } from 'commander';
import type { CopyProgress, CopyResult } from '../../engine/copy.js';
import type { OpenVaultOptions, Vault } from '../../vault/vault.js';
import { formatBytes } from '../../metrics/units.js';
import { resolveBackupId, shortIds } from '../backup-ids.js';
import { newCommand, usageError } from '../command.js';
import { cancellationSignal, checkLocation, emit, logger, storeOptions } from '../context.js';
import { addKeyOptions, addOutputOptions, addStoreUseOptions, parseEndpoint, parsePositiveInt, parseRate, type CommonOpts } from '../options.js';
import { barLine, type BarFrame } from '../progress-bar.js';
import { progressEmitter } from '../progress-events.js';

interface CopyOpts extends CommonOpts {
  from?: string;
  to?: string;
  toEndpoint?: string;
  volume?: string;
  all?: boolean;
  concurrency?: number;
  limit?: number;
  allowReplicaSource?: boolean;
  allowUnencryptedDestination?: boolean;
}

function copyFrame(e: CopyProgress): BarFrame {
  const c = e.counters;
  const rate = e.elapsedMs > 0 ? Math.round((c.bytesSent * 1000) / e.elapsedMs) : 0;
  return {
    line: barLine('copy', e.progress / 100, [
      `backup ${Math.min(e.backupsTotal, e.backupsDone + 1)}/${e.backupsTotal}`,
      `${c.chunksSent} chunks sent (${formatBytes(c.bytesSent)}), ${c.chunksPresent} already there`,
      `${formatBytes(rate)}/s`,
    ]),
    done: e.progress,
    total: 100,
  };
}

function describe(r: CopyResult): string {
  const c = r.counters;
  const short = shortIds([...r.copied, ...r.present]);
  const ids = (list: string[]) => list.map((id) => short.get(id)).join(', ');
  return [
    `copied ${r.copied.length} backup${r.copied.length === 1 ? '' : 's'} from ${r.from} to ${r.to} (${r.mode})` +
      (r.copied.length ? `: ${ids(r.copied)}` : ''),
    ...(r.present.length ? [`  already there, skipped: ${ids(r.present)}`] : []),
    `  ${c.chunksSent} chunk${c.chunksSent === 1 ? '' : 's'} sent (${formatBytes(c.bytesSent)}), ${c.chunksPresent} already there; ` +
      `${c.manifestsWritten} manifest${c.manifestsWritten === 1 ? '' : 's'} written in ${(r.elapsedMs / 1000).toFixed(2)} s`,
    ...(r.records.length ? ['  replication records:'] : []),
    ...r.records.map(
      (rec) =>
        `    ${short.get(rec.source_backup_id) ?? rec.source_backup_id}  ${rec.status.padEnd(7)}  ${String(rec.extra_info.progress).padStart(3)}%  record ${rec.id}` +
        (rec.extra_info.fail_code ? `  ${rec.extra_info.fail_code}: ${rec.extra_info.fail_reason}` : ''),
    ),
  ].join('\n');
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'copy [backup-ids...]',
    'copy backups with the chains they need to another vault, sending only the chunks it lacks',
    [
      'blockvault copy --from ./vault --to s3://dr-bucket/vault --volume vol-1',
      'blockvault copy --from ./vault --to s3://dr-bucket/vault 4662abbd 9f03c2e1 --json',
      'blockvault copy --from s3://a/vault --to s3://b/vault --to-endpoint https://s3.other.example --all --limit 50MiB',
      'blockvault copy --from s3://dr-bucket/vault --to ./vault --all --allow-replica-source',
    ],
    `Say what to copy: backup ids (or unique prefixes), --volume, or --all (exactly one).
A destination that does not exist is made as a replica of the source (same block size,
compression and chunk-id key, so chunk objects move as stored). Each manifest is written
last: an interrupted copy shows nothing half-made and a rerun sends only what is missing.
Copies are replicas: restore them with \`restore --allow-replica\`; copying a replica again
needs --allow-replica-source. The result has one replication record per selected backup.
The key flags (--password-file, --password-command, --key-file) open both vaults. Encrypted
backups are re-encrypted for the destination's key domain; into a vault without encryption
they are refused unless --allow-unencrypted-destination (stored decrypted, on purpose).`,
  )
    .option('--from <dir|s3://bucket/prefix>', 'the source vault (required)')
    .option('--to <dir|s3://bucket/prefix>', 'the destination vault, made if missing (required)')
    .option('--volume <id>', "copy this volume's backups")
    .option('--all', 'copy every backup of the source')
    .option('--concurrency <n>', 'chunks in flight (default: the smaller of the two vaults\' figures)', parsePositiveInt)
    .option('--limit <rate>', 'average bytes per second of chunks written to the destination, e.g. 50MiB', parseRate)
    .option('--allow-replica-source', 'copy replicas too (a fail-back after a disaster; the service refuses it)')
    .option('--allow-unencrypted-destination', 'store decrypted copies of encrypted backups in a vault without encryption (refused otherwise)')
    .option('--endpoint <url>', 'S3 endpoint URL of both vaults (default: $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)', parseEndpoint)
    .option('--to-endpoint <url>', "the destination's S3 endpoint, when it differs from --endpoint", parseEndpoint)
    .option('--region <region>', 'S3 region (default: the AWS chain, else us-east-1)')
    .option('--create-bucket', "create the destination's S3 bucket if it does not exist");
  addOutputOptions(addKeyOptions(addStoreUseOptions(cmd))).action(async (given: string[], opts: CopyOpts) => {
    if (!opts.from) throw usageError(cmd, 'missing --from (the source vault)');
    if (!opts.to) throw usageError(cmd, 'missing --to (the destination vault)');
    const chosen = [given.length > 0, opts.volume !== undefined, opts.all === true].filter(Boolean).length;
    if (chosen !== 1) {
      throw usageError(cmd, chosen === 0 ? 'say what to copy: backup ids, --volume ID or --all' : 'give only one of: backup ids, --volume, --all');
    }
    const fromLocation = checkLocation(opts.from);
    const toLocation = checkLocation(opts.to);
    const { Vault } = await import('../../vault/vault.js');
    const { copyBackups } = await import('../../engine/copy.js');
    const log = await logger(opts);
    const cancel = cancellationSignal();
    const { keysFromFlags } = await import('../key-input.js');
    const keys = await keysFromFlags(opts); // both vaults; none given: the environment's
    const base = { ...storeOptions(opts), ...(keys ? { keys } : {}) };
    const from = await Vault.open(fromLocation, { ...base, createBucket: undefined });
    try {
      // What the source refuses is found before the destination is made: a copy that fails
      // on bad input makes no vault.
      const backupIds = given.length ? await Promise.all(given.map((id) => resolveBackupId(from, id))) : undefined;
      const { checkReplicable } = await import('../../engine/copy-replica.js');
      const selected = backupIds
        ? await Promise.all(backupIds.map((id) => from.header(id)))
        : await from.listBackups(opts.volume !== undefined ? { volumeId: opts.volume } : {});
      for (const h of selected) checkReplicable(h, opts.allowReplicaSource ?? false);
      const to = await destination(from, toLocation, { ...base, ...(opts.toEndpoint ? { endpoint: opts.toEndpoint } : {}) });
      try {
        log.info(`copying from ${from.url} to ${to.url}`);
        const out = await progressEmitter<CopyProgress>(opts, 'copy', cancel, copyFrame);
        let r: CopyResult;
        try {
          r = await copyBackups(from, to, {
            ...(backupIds ? { backupIds } : opts.volume !== undefined ? { volumeId: opts.volume } : { all: true }),
            concurrency: opts.concurrency,
            limitBytesPerSec: opts.limit,
            allowReplicaSource: opts.allowReplicaSource,
            allowDecrypt: opts.allowUnencryptedDestination,
            signal: cancel.signal,
            onProgress: out.onProgress,
          });
        } finally {
          out.stop();
        }
        const res = r;
        emit(opts, res, () => describe(res));
      } finally {
        await to.close().catch(() => {});
      }
    } finally {
      await from.close().catch(() => {});
    }
  });
}

/**
 * The destination: opened as it is when it exists; else made as a replica of the source (same
 * block size, compression and chunk-id key: chunk objects move as stored). An encrypted
 * source's chunk-id key must not be shared, and which keys a new encrypted vault should take
 * is the operator's choice (init --encrypt), so a new destination for an encrypted source is
 * refused.
 */
async function destination(from: Vault, location: string, base: OpenVaultOptions): Promise<Vault> {
  const { Vault } = await import('../../vault/vault.js');
  const { initReplica } = await import('../../engine/copy.js');
  const { BlockvaultError, ErrorCodes } = await import('../../errors.js');
  try {
    return await Vault.open(location, { ...base, createBucket: undefined });
  } catch (e) {
    const missing = (e instanceof BlockvaultError && e.code === ErrorCodes.notFound) || (e as { category?: string }).category === 'notFound';
    if (!missing) throw e;
  }
  if (from.encrypted) {
    throw new BlockvaultError(ErrorCodes.badInput, `${from.url} is encrypted and ${location} does not exist: copy makes no new vault for an encrypted source`, {
      hint: `make it first with \`blockvault init --vault ${location} --encrypt\` (and the key flags), then copy: the backups are re-encrypted there`,
      details: { from: from.url, to: location },
    });
  }
  return initReplica(from, location, base);
}
