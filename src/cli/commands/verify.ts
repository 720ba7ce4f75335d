import type { Command } from 'commander';
import { newCommand, usageError } from '../command.js';
import { cancellationSignal, emit, withVault } from '../context.js';
import { addVaultOptions, percentParser, type CommonOpts } from '../options.js';

interface VerifyOpts extends CommonOpts {
  volume?: string;
  deep?: boolean;
  sample?: number;
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'verify',
    'check the backups\' chunks are there (--deep: and intact); exit 3 if damaged',
    ['blockvault verify --vault ./vault', 'blockvault verify --vault ./vault --volume vol-1 --deep --sample 10%'],
  )
    .option('--volume <id>', "only this volume's backups")
    .option('--deep', 'fetch, decompress and check every chunk')
    .option('--sample <pct>', 'with --deep: a random share of the chunks, e.g. 10%', percentParser(false));
  addVaultOptions(cmd).action(async (opts: VerifyOpts) => {
    if (opts.sample !== undefined && !opts.deep) throw usageError(cmd, '--sample needs --deep');
    const { verify } = await import('../../engine/verify.js');
    const { signal } = cancellationSignal();
    await withVault(opts, async (vault) => {
      const r = await verify(vault, { volumeId: opts.volume, deep: opts.deep, samplePercent: opts.sample, signal });
      emit(opts, r, () => {
        const lines = [
          `verify ${r.deep ? `deep (${r.samplePercent}% of chunks fetched)` : 'quick'}: ${r.manifests} manifest${r.manifests === 1 ? '' : 's'}, ${r.chunksReferenced} chunks referenced, ${r.chunksFetched} fetched — ${r.ok ? 'OK' : 'DAMAGED'}`,
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
      if (!r.ok) process.exitCode = 3;
    });
  });
}
