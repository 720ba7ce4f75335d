// The chain-lifecycle commands: delete, prune, gc, verify, stats. main.ts's switch hands
// these to runLifecycleCommand, which returns the exit code (verify: 3 when damaged).
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { deleteBackup } from '../engine/delete.js';
import { gc } from '../engine/gc.js';
import { prune } from '../engine/prune.js';
import type { RetentionDecision, RetentionPolicy } from '../engine/retention-policy.js';
import { vaultStats } from '../engine/stats.js';
import { verify } from '../engine/verify.js';
import { formatBytes } from '../metrics/units.js';
import type { StoreOptions } from '../store/open-store.js';
import { Vault } from '../vault/vault.js';

export const LIFECYCLE_COMMANDS = ['delete', 'prune', 'gc', 'verify', 'stats'] as const;

export const LIFECYCLE_USAGE = `  blockvault delete BACKUP-ID --vault V [--json]
  blockvault prune --vault V --volume ID [--keep-last N] [--keep-daily N] [--keep-weekly N]
                   [--keep-monthly N] [--keep-yearly N] [--keep-within 30d] [--max-backups N]
                   [--retention-days N] [--timezone Asia/Shanghai|UTC+08:00] [--dry-run] [--json]
  blockvault gc --vault V [--dry-run] [--json]
  blockvault verify --vault V [--volume ID] [--deep [--sample 10%]] [--json]   (exit 3: damaged)
  blockvault stats --vault V [--json]`;

export interface LifecycleValues {
  vault?: string;
  volume?: string;
  json?: boolean;
  'dry-run'?: boolean;
  'keep-last'?: string;
  'keep-daily'?: string;
  'keep-weekly'?: string;
  'keep-monthly'?: string;
  'keep-yearly'?: string;
  'keep-within'?: string;
  'max-backups'?: string;
  'retention-days'?: string;
  timezone?: string;
  deep?: boolean;
  sample?: string;
}

function usage(message: string): BlockvaultError {
  return new BlockvaultError(ErrorCodes.badInput, message, { hint: 'see `blockvault --help`' });
}

function need(v: string | undefined, what: string): string {
  if (!v) throw usage(`missing ${what}`);
  return v;
}

function count(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < -1) throw usage(`${flag} takes a whole number (-1 or 0: unset)`);
  return n;
}

function emit(json: boolean | undefined, result: object, human: () => string): void {
  if (json) process.stdout.write(JSON.stringify({ event: 'result', ...result }) + '\n');
  else process.stdout.write(human() + '\n');
}

const why = (d: RetentionDecision) => `  ${d.keep ? 'keep  ' : 'remove'} ${d.id}  ${d.createdAt}  ${d.reasons.join('; ')}`;

export async function runLifecycleCommand(
  cmd: string,
  args: string[],
  v: LifecycleValues,
  ctx: { storeOptions: StoreOptions; signal: AbortSignal },
): Promise<number> {
  const vault = await Vault.open(need(v.vault, '--vault'), ctx.storeOptions);
  try {
    switch (cmd) {
      case 'delete': {
        const r = await deleteBackup(vault, need(args[0], 'BACKUP-ID'), { signal: ctx.signal });
        emit(v.json, r, () =>
          `deleted backup ${r.backupId} of volume ${r.volumeId}` +
          (r.mergedInto.length ? `; its blocks were merged into ${r.mergedInto.join(', ')}` : '') +
          (r.promotedToFull.length ? ` (now a full backup)` : '') +
          '\n  space is reclaimed by `blockvault gc`',
        );
        return 0;
      }
      case 'prune': {
        const policy: RetentionPolicy = {
          keepLast: count(v['keep-last'], '--keep-last'),
          keepDaily: count(v['keep-daily'], '--keep-daily'),
          keepWeekly: count(v['keep-weekly'], '--keep-weekly'),
          keepMonthly: count(v['keep-monthly'], '--keep-monthly'),
          keepYearly: count(v['keep-yearly'], '--keep-yearly'),
          keepWithin: v['keep-within'],
          maxBackups: count(v['max-backups'], '--max-backups'),
          retentionDays: count(v['retention-days'], '--retention-days'),
          timezone: v.timezone,
        };
        const r = await prune(vault, { volumeId: need(v.volume, '--volume'), policy, dryRun: v['dry-run'], signal: ctx.signal });
        emit(v.json, r, () =>
          [
            `${r.dryRun ? 'would prune' : 'pruned'} volume ${r.volumeId}: ${r.kept.length} kept, ${r.removed.length} ${r.dryRun ? 'to remove' : 'removed'}`,
            ...r.kept.map(why),
            ...r.removed.map(why),
          ].join('\n'),
        );
        return 0;
      }
      case 'gc': {
        const r = await gc(vault, { dryRun: v['dry-run'], signal: ctx.signal });
        emit(v.json, r, () =>
          [
            `gc ${r.dryRun ? '(dry run) ' : ''}${r.runId}: ${r.manifests} manifests, ${r.chunksListed} chunks, ${r.unreferenced} unreferenced (${formatBytes(r.unreferencedBytes)})`,
            `  ${r.dryRun ? 'would reclaim' : 'reclaimed'} ${r.reclaimedObjects} objects, ${formatBytes(r.reclaimedBytes)}`,
            r.condemned
              ? `  ${r.condemned} chunks deferred (condemned) while ${r.liveLeases.length} operation(s) run; a later gc deletes them`
              : '',
            r.recordsWaiting ? `  ${r.recordsWaiting} earlier condemned record(s) still wait for their operations` : '',
          ]
            .filter(Boolean)
            .join('\n'),
        );
        return 0;
      }
      case 'verify': {
        let samplePercent: number | undefined;
        if (v.sample !== undefined) {
          if (!v.deep) throw usage('--sample needs --deep');
          samplePercent = Number(v.sample.replace(/%$/, ''));
          if (!(Number.isFinite(samplePercent) && samplePercent > 0 && samplePercent <= 100)) throw usage('--sample takes a percentage above 0, up to 100');
        }
        const r = await verify(vault, { volumeId: v.volume, deep: v.deep, samplePercent, signal: ctx.signal });
        emit(v.json, r, () => {
          const lines = [
            `verify ${r.deep ? `deep (${r.samplePercent}% of chunks fetched)` : 'quick'}: ${r.manifests} manifests, ${r.chunksReferenced} chunks referenced, ${r.chunksFetched} fetched — ${r.ok ? 'OK' : 'DAMAGED'}`,
          ];
          for (const m of r.damagedManifests) lines.push(`  damaged manifest ${m.object}: ${m.problem}`);
          for (const c of r.brokenChains) lines.push(`  backup ${c.backupId} (volume ${c.volumeId}) cannot be restored: ${c.problem}`);
          for (const c of r.damagedChunks) {
            lines.push(`  chunk ${c.chunk} (${c.object}) ${c.problem}: ${c.detail}`);
            for (const a of c.affected) {
              const offs = a.blocks.slice(0, 8).map((b) => b.offset);
              lines.push(`    needed by backup ${a.backupId} (volume ${a.volumeId}) at offset ${offs.join(', ')}${a.blocks.length > 8 ? ` and ${a.blocks.length - 8} more` : ''}`);
            }
          }
          if (!r.ok) lines.push(`  affected backups: ${r.affectedBackups.join(', ')}`);
          return lines.join('\n');
        });
        return r.ok ? 0 : 3;
      }
      case 'stats': {
        const r = await vaultStats(vault);
        emit(v.json, r, () =>
          [
            `vault ${r.vault}: ${formatBytes(r.usedBytes)} used (${r.usedMB} MB) in ${r.objectCount} objects; ` +
              `${r.chunkObjects} chunks, ${r.unreferencedChunks} unreferenced (${formatBytes(r.unreferencedBytes)})`,
            ...r.volumes.flatMap((vol) => [
              `volume ${vol.volumeId}: ${vol.backupCount} backups, ${formatBytes(vol.storedBytes)} stored (${vol.storedGB} GB)`,
              ...vol.backups.map(
                (b) =>
                  `  ${b.backupId} ${b.type.padEnd(11)} ${b.createdAt}  exclusive ${formatBytes(b.exclusiveBytes)}  shared ${formatBytes(b.sharedBytes)}  CS ${b.chainSizeMB} MB`,
              ),
            ]),
          ].join('\n'),
        );
        return 0;
      }
      default:
        throw usage(`unknown command ${JSON.stringify(cmd)}`);
    }
  } finally {
    await vault.close().catch(() => {});
  }
}
