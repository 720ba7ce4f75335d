// The ids the library takes, checked before any work (issue 9.7). Volume and backup ids
// become parts of object keys (manifests/<volume>/<backup>.bvm), so both follow one rule:
// 1–128 of [A-Za-z0-9._:-], starting with a letter or digit. That refuses '', '.', '..',
// 'a/b', '../x', unicode and over-long ids, on a directory and in a bucket alike. A backup
// id may not end in ".bvm" (its key would read as a manifest name inside a name).
// Snapshot ids are the caller's free text, stored in the header only: bounded in length.
import { BlockvaultError, ErrorCodes } from '../errors.js';

const KEY_SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const MAX_SNAPSHOT_ID_CHARS = 1024;

const RULE = 'use 1–128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (a UUID works)';

function describeId(id: unknown): string {
  const text = typeof id === 'string' ? JSON.stringify(id.length > 60 ? `${id.slice(0, 60)}…` : id) : String(id);
  return typeof id === 'string' && id.length > 60 ? `${text} (${id.length} characters)` : text;
}

export function validateBackupId(backupId: unknown, field = 'backupId'): asserts backupId is string {
  if (typeof backupId !== 'string' || !KEY_SAFE_ID.test(backupId) || backupId.endsWith('.bvm')) {
    throw new BlockvaultError(ErrorCodes.badInput, `backup id ${describeId(backupId)} is not valid`, {
      hint: `${RULE}; it may not end in ".bvm"`,
      details: { field },
    });
  }
}

/** The same rule as validateVolumeId in vault.ts, for callers below it. */
export function validateKeySafeId(id: unknown, what: string, field: string): asserts id is string {
  if (typeof id !== 'string' || !KEY_SAFE_ID.test(id)) {
    throw new BlockvaultError(ErrorCodes.badInput, `${what} ${describeId(id)} is not valid`, { hint: RULE, details: { field } });
  }
}

export function validateSnapshotId(snapshotId: unknown): void {
  if (typeof snapshotId !== 'string' || snapshotId.length > MAX_SNAPSHOT_ID_CHARS || /[\u0000-\u001f]/.test(snapshotId)) {
    throw new BlockvaultError(ErrorCodes.badInput, `snapshot id ${describeId(snapshotId)} is not valid`, {
      hint: `give up to ${MAX_SNAPSHOT_ID_CHARS} characters of text without control characters`,
      details: { field: 'snapshotId' },
    });
  }
}
