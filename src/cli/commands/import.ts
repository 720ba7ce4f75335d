import type { Command } from 'commander';
import type { ArchiveProgress } from '../../engine/archive/export.js';
import type { ImportResult } from '../../engine/archive/import.js';
import { ioError } from '../../errors.js';
import { newCommand, usageError } from '../command.js';
import { cancellationSignal, emit, withVault } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';
import { progressEmitter } from '../progress-events.js';
import { archiveFrame } from './export.js';

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'import <archive>',
    'read a backup archive (from export) from a file or stdin into a vault',
    ['blockvault import vol-1.bvtar --vault s3://bucket/prefix', 'ssh src blockvault export 4662abbd --vault /srv/vault -o - | blockvault import - --vault ./vault'],
    `ARCHIVE is a file or - for stdin. Every entry's checksum and every chunk's identity is
checked; the backup becomes visible only once the whole archive checked out. Entries that
leave the archive (.., absolute paths, links), unknown, duplicate or oversized entries are
refused (exit 2); a truncated or altered archive is damaged (exit 3). Importing the same
archive twice changes nothing. The vault must have the archive's block size; it is not created.`,
  );
  addVaultOptions(cmd).action(async (archive: string, opts: CommonOpts) => {
    const fromStdin = archive === '-';
    if (fromStdin && process.stdin.isTTY) throw usageError(cmd, 'stdin is a terminal, not an archive', 'pipe an archive in (< FILE, … |) or give its file name');
    const { createReadStream } = await import('node:fs');
    const { stat } = await import('node:fs/promises');
    if (!fromStdin) {
      const st = await stat(archive).catch((e) => Promise.reject(ioError(e, 'archive', archive)));
      if (!st.isFile() && !st.isFIFO()) throw ioError(Object.assign(new Error('is not a file'), { code: 'EISDIR' }), 'archive', archive);
    }
    const { importArchive } = await import('../../engine/archive/import.js');
    const cancel = cancellationSignal();
    await withVault(opts, async (vault) => {
      const out = await progressEmitter<ArchiveProgress>(opts, 'import', cancel, archiveFrame('import'));
      let r: ImportResult;
      try {
        r = await importArchive(vault, fromStdin ? process.stdin : createReadStream(archive), { signal: cancel.signal, onProgress: out.onProgress });
      } finally {
        out.stop();
      }
      const res = r;
      emit(opts, res, () =>
        res.alreadyPresent
          ? `backup ${res.backupId} of volume ${res.volumeId} is already in ${vault.url}: nothing written`
          : `imported backup ${res.backupId} of volume ${res.volumeId} into ${vault.url} (${res.mode}): ` +
            `${res.chunksReceived} chunk${res.chunksReceived === 1 ? '' : 's'} received, ${res.chunksWritten} written, in ${(res.elapsedMs / 1000).toFixed(2)} s`,
      );
    });
  });
}
