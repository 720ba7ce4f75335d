import type { Command } from 'commander';
import type { ArchiveProgress, ExportResult } from '../../engine/archive/export.js';
import { BlockvaultError, ErrorCodes, ioError } from '../../errors.js';
import { formatBytes } from '../../metrics/units.js';
import { resolveBackupId } from '../backup-ids.js';
import { newCommand, usageError } from '../command.js';
import { cancellationSignal, divertMachineOutput, emit, withVault } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';
import { barLine, type BarFrame } from '../progress-bar.js';
import { progressEmitter } from '../progress-events.js';

interface ExportOpts extends CommonOpts {
  output?: string;
  base?: string;
  force?: boolean;
}

/** The bar of an export or an import: chunks done of the total, archive bytes. */
export function archiveFrame(label: string) {
  return (e: ArchiveProgress): BarFrame => ({
    line: barLine(label, e.progress / 100, [`${e.chunksDone} / ${e.chunksTotal} chunks`, formatBytes(e.bytes)]),
    done: e.progress,
    total: 100,
  });
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'export <backup-id>',
    'write one backup (the chunks its point needs) as a tar archive to a file or stdout',
    [
      'blockvault export 4662abbd --vault ./vault -o vol-1.bvtar',
      'blockvault export 4662abbd --vault ./vault -o - | ssh dr blockvault import - --vault /srv/vault',
      'blockvault export 9f03c2e1 --vault ./vault -o vol-1-inc.bvtar --base 4662abbd',
    ],
    `The archive holds the backup's point as one full manifest and every chunk it needs; with
--base only the chunks the base's point lacks (the importing vault must hold the base).
A file is written under a temporary name and renamed into place when complete. With -o -
the archive is the only thing on stdout: --json events and the result go to stderr.`,
  )
    .option('-o, --output <file|->', 'where to write the archive; - for stdout (required)')
    .option('--base <backup-id>', "leave out the chunks this backup's point names")
    .option('--force', 'replace an output file that exists');
  addVaultOptions(cmd).action(async (given: string, opts: ExportOpts) => {
    if (!opts.output) throw usageError(cmd, 'missing -o FILE (or -o - for stdout)');
    const toStdout = opts.output === '-';
    if (toStdout) {
      if (process.stdout.isTTY) throw usageError(cmd, 'stdout is a terminal: an archive is binary', 'redirect stdout (> FILE, | …) or give -o FILE');
      divertMachineOutput(process.stderr);
    }
    const { exportBackup } = await import('../../engine/archive/export.js');
    const cancel = cancellationSignal();
    await withVault(opts, async (vault) => {
      const backupId = await resolveBackupId(vault, given);
      const base = opts.base !== undefined ? await resolveBackupId(vault, opts.base) : undefined;
      const out = await progressEmitter<ArchiveProgress>(opts, 'export', cancel, archiveFrame('export'));
      let r: ExportResult;
      try {
        if (toStdout) {
          r = await exportBackup(vault, backupId, { out: process.stdout, end: false, base, signal: cancel.signal, onProgress: out.onProgress });
        } else {
          r = await toFile(opts.output!, opts.force ?? false, (file) =>
            exportBackup(vault, backupId, { out: file, base, signal: cancel.signal, onProgress: out.onProgress }),
          );
        }
      } finally {
        out.stop();
      }
      const res = { ...r, output: opts.output! };
      emit(opts, res, () =>
        `exported ${res.backupId} of volume ${res.volumeId}${res.baseBackupId ? ` (without the chunks of ${res.baseBackupId})` : ''} ` +
        `to ${toStdout ? 'stdout' : res.output}: ${res.chunks} chunk${res.chunks === 1 ? '' : 's'}, ${formatBytes(res.bytes)} in ${(res.elapsedMs / 1000).toFixed(2)} s`,
      );
    });
  });
}

/** Writes through a temporary file beside `target`, renamed into place only on success. */
async function toFile<T>(target: string, force: boolean, write: (out: import('node:fs').WriteStream) => Promise<T>): Promise<T> {
  const { createWriteStream } = await import('node:fs');
  const { open, rename, rm, stat } = await import('node:fs/promises');
  const there = await stat(target).catch(() => undefined);
  if (there?.isDirectory()) throw ioError(Object.assign(new Error('is a directory'), { code: 'EISDIR' }), 'export output', target);
  if (there && !force) {
    throw new BlockvaultError(ErrorCodes.targetExists, `export output ${target} exists`, {
      hint: 'give another -o FILE, or --force to replace it',
      details: { target },
    });
  }
  const temp = `${target}.partial-${process.pid}`;
  const file = createWriteStream(temp, { flags: 'wx' });
  const opened = new Promise<void>((resolve, reject) => {
    file.once('open', () => resolve());
    file.once('error', reject);
  });
  try {
    await opened.catch((e) => Promise.reject(ioError(e, 'export output', target)));
    const r = await write(file);
    if (!file.closed) await new Promise<void>((resolve, reject) => file.once('close', resolve).once('error', reject));
    const h = await open(temp, 'r+'); // durable before it takes the name
    await h.sync().finally(() => h.close());
    await rename(temp, target);
    return r;
  } catch (e) {
    file.destroy();
    await rm(temp, { force: true });
    throw e;
  }
}
