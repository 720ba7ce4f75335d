#!/usr/bin/env node
// The command line: a thin layer over the library API in src/index.ts.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  BlockvaultError,
  ErrorCodes,
  backup,
  formatBytes,
  listBackups,
  openVault,
  parseSize,
  restore,
  showBackup,
  type ProgressEvent,
} from '../index.js';
import type { Compression } from '../chunk/compress.js';
import { progressBar } from './progress-bar.js';
import { LIFECYCLE_COMMANDS, LIFECYCLE_USAGE, runLifecycleCommand } from './lifecycle-commands.js';

const USAGE = `blockvault — block-level backup of disk images to a local or S3 vault

usage:
  blockvault init --vault DIR|s3://bucket/prefix [--block-size 4MiB] [--compression lz4|none]
  blockvault backup IMAGE|DEVICE --vault V --volume ID [--full] [--backup-id ID] [--snapshot-id ID]
                    [--bootable] [--block-size SIZE] [--concurrency N] [--json]
                    [--changed-extents FILE] [--allocated-extents FILE] [--verify-unchanged PCT]
  blockvault restore BACKUP-ID TARGET --vault V [--force] [--target-is-zeroed] [--concurrency N] [--json]
  blockvault list --vault V [--volume ID] [--json]
  blockvault show BACKUP-ID --vault V [--json]
  blockvault bench [--size 2GiB] [--runs 3] [--scenarios full,incremental,restore,…] [--json]
${LIFECYCLE_USAGE}

S3 vaults: --endpoint URL (or AWS_ENDPOINT_URL_S3), --region R, --create-bucket;
credentials from the standard AWS chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, …).

Block devices (/dev/vdb) need the native addon and root. Extent lists (rbd diff --format json,
qemu-img map --output=json, or plain "OFFSET LENGTH [zero]" lines):
  --changed-extents FILE    what changed since the parent backup's snapshot: only blocks it
                            touches are read (no parent: ignored with a warning; not with --full)
  --allocated-extents FILE  bytes outside its data extents are zeros and never read
  --verify-unchanged PCT    first re-read PCT % of the blocks a list skips; on a mismatch the
                            lists are ignored and everything is read (a warning says so)
  --target-is-zeroed        restore onto a device that already reads as zeros: leave zero
                            blocks alone instead of zeroing them (BLKZEROOUT)

--json prints NDJSON on stdout: {"event":"progress",…} lines, then one {"event":"result",…}
(or {"event":"error",…}) line.
Exit codes: 0 ok, 1 failed, 2 bad usage or input, 3 damaged or corrupt data, 75 volume busy,
130 cancelled.`;

const OPTIONS = {
  vault: { type: 'string' },
  volume: { type: 'string' },
  full: { type: 'boolean' },
  force: { type: 'boolean' },
  json: { type: 'boolean' },
  'backup-id': { type: 'string' },
  'snapshot-id': { type: 'string' },
  bootable: { type: 'boolean' },
  'block-size': { type: 'string' },
  compression: { type: 'string' },
  concurrency: { type: 'string' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  'create-bucket': { type: 'boolean' },
  'changed-extents': { type: 'string' },
  'allocated-extents': { type: 'string' },
  'verify-unchanged': { type: 'string' },
  'target-is-zeroed': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'keep-last': { type: 'string' },
  'keep-daily': { type: 'string' },
  'keep-weekly': { type: 'string' },
  'keep-monthly': { type: 'string' },
  'keep-yearly': { type: 'string' },
  'keep-within': { type: 'string' },
  'max-backups': { type: 'string' },
  'retention-days': { type: 'string' },
  timezone: { type: 'string' },
  deep: { type: 'boolean' },
  sample: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

class UsageError extends Error {}

function need(v: string | undefined, what: string): string {
  if (!v) throw new UsageError(`missing ${what}`);
  return v;
}

function storeOpts(v: Values) {
  return { endpoint: v.endpoint, region: v.region, createBucket: v['create-bucket'] };
}

function emitter(v: Values, label: string) {
  const bar = v.json ? undefined : progressBar(label);
  // Events come every 500 ms and every 64 MiB; BLOCKVAULT_PROGRESS_BYTES sets the byte step.
  const step = Number(process.env.BLOCKVAULT_PROGRESS_BYTES);
  return {
    everyBytes: Number.isFinite(step) && step > 0 ? step : undefined,
    onProgress(e: ProgressEvent) {
      if (v.json) process.stdout.write(JSON.stringify(e) + '\n');
      else bar?.update(e);
    },
    stop() {
      bar?.stop();
    },
  };
}

function print(v: Values, result: unknown, human: () => string): void {
  if (v.json) process.stdout.write(JSON.stringify({ event: 'result', ...(result as object) }) + '\n');
  else process.stdout.write(human() + '\n');
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'bench') {
    // The harness lives beside the library (bench/), with its own options; see bench/main.ts.
    const { runBench } = await import(new URL('../../bench/main.js', import.meta.url).href);
    return runBench(argv.slice(1));
  }
  const { values: v, positionals } = parse(argv);
  const [cmd, ...args] = positionals;
  if (v.help || !cmd) {
    process.stdout.write(USAGE + '\n');
    return cmd || v.help ? 0 : 2;
  }
  const controller = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\ncancelling (Ctrl-C again to quit at once)…\n');
    controller.abort(new Error('interrupted'));
  });
  process.on('SIGTERM', () => controller.abort(new Error('terminated')));
  const concurrency = v.concurrency ? Number(v.concurrency) : undefined;
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency > 0)) {
    throw new UsageError('--concurrency takes a whole number above 0');
  }

  switch (cmd) {
    case 'init': {
      const vault = await openVault(need(v.vault, '--vault'), {
        ...storeOpts(v),
        create: true,
        blockSize: v['block-size'] ? parseSize(v['block-size']) : undefined,
        compression: v.compression as Compression | undefined,
      });
      print(v, { vault: vault.url, ...vault.config, hashKey: undefined }, () =>
        `vault ${vault.url}: block size ${formatBytes(vault.blockSize)}, compression ${vault.config.compression}`,
      );
      await vault.close();
      return 0;
    }
    case 'backup': {
      const source = need(args[0], 'IMAGE (the disk image or block device to back up)');
      const verifyPct = v['verify-unchanged'] === undefined ? undefined : Number(v['verify-unchanged'].replace(/%$/, ''));
      if (verifyPct !== undefined && !(Number.isFinite(verifyPct) && verifyPct >= 0 && verifyPct <= 100)) {
        throw new UsageError('--verify-unchanged takes a percentage from 0 to 100');
      }
      const vault = await openVault(need(v.vault, '--vault'), {
        ...storeOpts(v),
        create: true,
        blockSize: v['block-size'] ? parseSize(v['block-size']) : undefined,
      });
      const out = emitter(v, 'backup ');
      try {
        const r = await backup(vault, {
          source,
          volumeId: need(v.volume, '--volume'),
          full: v.full,
          backupId: v['backup-id'],
          snapshotId: v['snapshot-id'],
          bootable: v.bootable,
          changedExtents: v['changed-extents'],
          allocatedExtents: v['allocated-extents'],
          verifyUnchanged: verifyPct,
          concurrency,
          signal: controller.signal,
          onProgress: out.onProgress,
          everyBytes: out.everyBytes,
        });
        out.stop();
        print(v, r, () =>
          [
            `backup ${r.backupId} (${r.type}${r.parentId ? ` of ${r.parentId}` : ''}) of volume ${r.volumeId}`,
            `  ${formatBytes(r.volumeSize)} scanned in ${(r.elapsedMs / 1000).toFixed(2)} s; ` +
              `${formatBytes(r.counters.bytesRead)} read, ${formatBytes(r.counters.bytesZero)} zero, ` +
              `${formatBytes(r.counters.bytesUnchanged)} unchanged, ${formatBytes(r.counters.bytesDeduplicated)} deduplicated` +
              (r.counters.bytesSkippedByExtents ? `, ${formatBytes(r.counters.bytesSkippedByExtents)} skipped by the extent list` : ''),
            `  stored ${formatBytes(r.newStoredBytes)} in ${r.newChunkCount} new chunks`,
            `  service_metadata ${r.service_metadata}`,
            ...(r.warnings ?? []).map((w) => `  warning: ${w}`),
          ].join('\n'),
        );
      } finally {
        out.stop();
        await vault.close();
      }
      return 0;
    }
    case 'restore': {
      const backupId = need(args[0], 'BACKUP-ID');
      const target = need(args[1], 'TARGET (the image file or block device to write)');
      const vault = await openVault(need(v.vault, '--vault'), storeOpts(v));
      const out = emitter(v, 'restore');
      try {
        const r = await restore(vault, { backupId, target, force: v.force, targetIsZeroed: v['target-is-zeroed'], concurrency, signal: controller.signal, onProgress: out.onProgress, everyBytes: out.everyBytes });
        out.stop();
        print(v, r, () =>
          `restored ${r.backupId} to ${r.target}: ${formatBytes(r.volumeSize)} in ${(r.elapsedMs / 1000).toFixed(2)} s ` +
            `(${r.throughputMBps} MB/s), ${r.counters.chunksVerified} chunks verified`,
        );
      } finally {
        out.stop();
        await vault.close();
      }
      return 0;
    }
    case 'list': {
      const vault = await openVault(need(v.vault, '--vault'), storeOpts(v));
      try {
        const list = await listBackups(vault, { volumeId: v.volume });
        if (v.json) process.stdout.write(JSON.stringify({ event: 'result', backups: list }) + '\n');
        else {
          const rows = list.map((b) =>
            [b.backupId, b.volumeId, b.type, b.parentId ?? '-', b.createdAt, formatBytes(b.volumeSize), formatBytes(b.storedBytes)].join('  '),
          );
          process.stdout.write(
            ['BACKUP  VOLUME  TYPE  PARENT  CREATED  SIZE  STORED', ...rows].join('\n') + '\n' + (list.length ? '' : '(no backups)\n'),
          );
        }
      } finally {
        await vault.close();
      }
      return 0;
    }
    case 'show': {
      const vault = await openVault(need(v.vault, '--vault'), storeOpts(v));
      try {
        const rec = await showBackup(vault, need(args[0], 'BACKUP-ID'));
        process.stdout.write(JSON.stringify(v.json ? { event: 'result', ...rec } : rec, null, v.json ? 0 : 2) + '\n');
      } finally {
        await vault.close();
      }
      return 0;
    }
    default:
      if ((LIFECYCLE_COMMANDS as readonly string[]).includes(cmd)) {
        return runLifecycleCommand(cmd, args, v, { storeOptions: storeOpts(v), signal: controller.signal });
      }
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  }
}

function exitCode(e: unknown): number {
  if (e instanceof UsageError || String((e as { code?: string })?.code).startsWith('ERR_PARSE_ARGS')) return 2;
  if (!(e instanceof BlockvaultError)) return 1;
  switch (e.code) {
    case ErrorCodes.badInput:
    case ErrorCodes.targetExists:
    case ErrorCodes.notFound:
    case ErrorCodes.backupNotFound:
    case ErrorCodes.targetTooSmall:
    case ErrorCodes.inputChanged:
      return 2;
    case ErrorCodes.corruptChunk:
    case ErrorCodes.missingChunk:
    case ErrorCodes.vaultDamaged:
      return 3;
    case ErrorCodes.volumeBusy:
    case ErrorCodes.restoreWhileBackup:
    case ErrorCodes.beingRestored:
      return 75;
    case ErrorCodes.aborted:
      return 130;
    default:
      return 1;
  }
}

// The S3 SDK warns on every command that its releases after January 2027 need Node 22; the
// project pins a release that supports Node 20 on purpose (docs/s3.md), and an operator can do
// nothing about it. Set the variable to "false" to see the warning.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const json = process.argv.includes('--json');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const code = exitCode(e);
    const err =
      e instanceof BlockvaultError
        ? e
        : new BlockvaultError(ErrorCodes.badInput, (e as Error)?.message ?? String(e), {
            hint: e instanceof UsageError || (e as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS') ? 'see `blockvault --help`' : undefined,
          });
    if (json) process.stdout.write(JSON.stringify({ event: 'error', exitCode: code, ...err.toJSON() }) + '\n');
    process.stderr.write(`blockvault: error [${err.code}]: ${err.describe()}\n`);
    if (process.env.BLOCKVAULT_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(code);
  },
);
