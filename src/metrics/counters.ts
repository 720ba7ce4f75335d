// Monotonic counters, one per stage of the data path. They only ever grow during an
// operation; progress events and the final summary are views of them.

export interface BackupCounters {
  /** Logical bytes of the volume processed so far (holes and unchanged blocks included). */
  bytesScanned: number;
  /** Bytes skipped as holes of a sparse input: never read. */
  bytesSparse: number;
  /** Bytes actually read from the input. */
  bytesRead: number;
  /** Bytes in blocks that were all zeros (holes included): never stored. */
  bytesZero: number;
  /** Bytes in blocks whose identity matched the parent's: not stored again. */
  bytesUnchanged: number;
  /** Bytes of new blocks whose chunk the vault (or this backup) already held. */
  bytesDeduplicated: number;
  /** Raw bytes of the chunks this backup stored, and the bytes they took after LZ4. */
  bytesCompressedIn: number;
  bytesCompressedOut: number;
  /** Bytes written to the store (chunk objects with headers, index, manifest). */
  bytesWritten: number;
  blocksTotal: number;
  blocksZero: number;
  blocksUnchanged: number;
  blocksDeduplicated: number;
  chunksWritten: number;
  /** Chunk objects found present but not in the index, and written again (see gc.ts). */
  chunksRewritten: number;
  objectsWritten: number;
  /** Bytes a changed-extent list let the backup skip: unchanged from the parent, or listed as
   *  zero (no read). Holes of an allocated-extent list count as bytesSparse. */
  bytesSkippedByExtents: number;
  /** Block devices: bytes read straight from the device (O_DIRECT), not through the page cache. */
  bytesReadDirect?: number;
  /** Bytes re-read by --verify-unchanged to check a list's claims (not in bytesRead). */
  bytesVerifiedUnchanged: number;
  /** Sampled blocks that were not what the list claimed (the backup then read everything). */
  verifyMismatches: number;
  /** Chunks of the new restore point this run did not write, confirmed present (HEAD/stat). */
  chunksConfirmed: number;
  /** Of those, found gone and stored again from the input (their blocks read again). */
  chunksRestored: number;
}

export interface RestoreCounters {
  bytesRestored: number;
  bytesZero: number;
  bytesFetched: number;
  chunksFetched: number;
  chunksVerified: number;
  blocksTotal: number;
  /** Block-device targets: zero bytes made zero with BLKZEROOUT, and written as zeros (fallback). */
  bytesZeroedOut?: number;
  bytesZeroWritten?: number;
  /** File targets: bytes written straight to disk (O_DIRECT), not through the page cache. */
  bytesDirect?: number;
}

export function newBackupCounters(): BackupCounters {
  return {
    bytesScanned: 0,
    bytesSparse: 0,
    bytesRead: 0,
    bytesZero: 0,
    bytesUnchanged: 0,
    bytesDeduplicated: 0,
    bytesCompressedIn: 0,
    bytesCompressedOut: 0,
    bytesWritten: 0,
    blocksTotal: 0,
    blocksZero: 0,
    blocksUnchanged: 0,
    blocksDeduplicated: 0,
    chunksWritten: 0,
    chunksRewritten: 0,
    objectsWritten: 0,
    bytesSkippedByExtents: 0,
    bytesVerifiedUnchanged: 0,
    verifyMismatches: 0,
    chunksConfirmed: 0,
    chunksRestored: 0,
  };
}

export function newRestoreCounters(): RestoreCounters {
  return { bytesRestored: 0, bytesZero: 0, bytesFetched: 0, chunksFetched: 0, chunksVerified: 0, blocksTotal: 0 };
}
