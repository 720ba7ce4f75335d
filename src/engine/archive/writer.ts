// Writes an archive entry by entry into any Writable, with backpressure end to end: add()
// resolves only once tar-stream has handed the entry on and the output has taken it (or has
// room), so a slow disk or a paused pipe holds the caller back instead of filling memory.
import type { Writable } from 'node:stream';
import tar from 'tar-stream';
import { BlockvaultError, ErrorCodes } from '../../errors.js';
import {
  ARCHIVE_FORMAT,
  CHECKSUM_PAX,
  EntryDigest,
  TRAILER_ENTRY,
  blake3Hex,
  chunkEntryName,
  type ArchiveTrailer,
} from './format.js';

export interface ArchiveWriterOptions {
  /** End the output when the archive is complete (default true; false for a shared stream). */
  end?: boolean;
}

export class ArchiveWriter {
  readonly #pack = tar.pack();
  readonly #digest = new EntryDigest();
  readonly #mtime = new Date();
  readonly #pump: Promise<void>;
  #failure: unknown;
  #finished = false;

  constructor(out: Writable, opts: ArchiveWriterOptions = {}) {
    this.#pump = this.#run(out, opts.end ?? true).catch((e) => {
      this.#failure ??= outputError(e);
      this.#pack.destroy(e as Error);
      throw this.#failure;
    });
    this.#pump.catch(() => {}); // surfaced through add() and finish()
  }

  /** Body bytes written so far (entry bodies, not tar padding). */
  get bytes(): number {
    return this.#digest.bytes;
  }

  async add(name: string, body: Buffer, pax?: Record<string, string>): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#finished) throw new Error('archive already finished');
    this.#digest.add(name, body);
    const header = { name, size: body.length, mode: 0o644, mtime: this.#mtime, type: 'file' as const, ...(pax ? { pax } : {}) };
    const accepted = new Promise<void>((resolve, reject) => {
      this.#pack.entry(header, body, (err) => (err ? reject(err) : resolve()));
    });
    try {
      await Promise.race([accepted, this.#pump.then(() => Promise.reject(new Error('archive output closed early')))]);
    } catch (e) {
      // The entry fails as "destroyed" when the output failed first: report the output's cause.
      await this.#pump.catch(() => {});
      throw this.#failure ?? outputError(e);
    }
  }

  /** A chunk object, named by its id, with its own checksum in a pax record. */
  addChunk(idHex: string, object: Buffer): Promise<void> {
    return this.add(chunkEntryName(idHex), object, { [CHECKSUM_PAX]: blake3Hex(object) });
  }

  /** Writes the trailer, ends the tar stream and waits until the output has all of it. */
  async finish(): Promise<ArchiveTrailer> {
    const trailer: ArchiveTrailer = {
      format: ARCHIVE_FORMAT,
      entries: this.#digest.entries,
      bytes: this.#digest.bytes,
      blake3: this.#digest.hex(),
    };
    await this.add(TRAILER_ENTRY, Buffer.from(JSON.stringify(trailer) + '\n', 'utf8'));
    this.#finished = true;
    this.#pack.finalize();
    await this.#pump;
    return trailer;
  }

  /** Stops writing; the output holds a truncated archive, which any reader refuses. */
  abort(reason: unknown): void {
    this.#failure ??= reason;
    this.#pack.destroy(reason instanceof Error ? reason : new Error(String(reason)));
  }

  async #run(out: Writable, end: boolean): Promise<void> {
    let outError: unknown;
    const onError = (e: unknown) => {
      outError ??= e;
      this.#failure ??= outputError(e);
    };
    out.on('error', onError);
    try {
      for await (const buf of this.#pack as AsyncIterable<Buffer>) {
        if (outError) throw outError;
        if (!out.write(buf)) await drained(out, () => outError);
      }
      if (outError) throw outError;
      if (end) {
        await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      }
    } finally {
      out.off('error', onError);
    }
  }
}

/** Resolves on 'drain'; rejects if the output fails or closes first. Leaves no listener. */
function drained(out: Writable, failure: () => unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: unknown) => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      out.off('error', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = (e?: unknown) => done(e ?? failure() ?? new Error('output closed'));
    out.on('drain', onDrain);
    out.on('close', onClose);
    out.on('error', onClose);
  });
}

function outputError(e: unknown): BlockvaultError {
  if (e instanceof BlockvaultError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC' || err?.code === 'EDQUOT') {
    return new BlockvaultError(ErrorCodes.noSpace, 'no space left writing the archive', {
      hint: 'free space (or write to another place) and export again; a partial archive is refused by import',
      cause: e,
    });
  }
  return new BlockvaultError(ErrorCodes.store, `writing the archive failed: ${err?.message ?? String(e)}`, {
    hint: 'check the output (file, pipe) and export again; a partial archive is refused by import',
    cause: e,
  });
}
