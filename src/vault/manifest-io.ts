// Reading and writing manifest objects, plain or sealed (an encrypted vault seals each manifest
// as a pair, so `list` still reads only the first few KiB: vault-encryption.ts). A bad body is
// read again (chunk-reread.ts); one that repeats is BV.VaultDamaged naming the object.
import { BlockvaultError, ErrorCodes } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { readChecked, unstableReadError, type RereadOutcome } from './chunk-reread.js';
import {
  MANIFEST_PREFIX_BYTES,
  ManifestFormatError,
  decodeHeader,
  decodeManifest,
  encodeManifest,
  headerLength,
  type Manifest,
  type ManifestEntry,
  type ManifestHeader,
} from './manifest.js';
import type { VaultEncryption } from './vault-encryption.js';

const HEADER_PROBE_BYTES = 16 * 1024;

export class ManifestIO {
  readonly #store: ObjectStore;
  readonly #enc: VaultEncryption | undefined;

  constructor(store: ObjectStore, enc: VaultEncryption | undefined) {
    this.#store = store;
    this.#enc = enc;
  }

  /** The whole manifest at `key`. */
  read(key: string, signal?: AbortSignal): Promise<Manifest> {
    const enc = this.#enc;
    const get = async () => {
      const buf = await this.#store.get(key, signal ? { signal } : undefined);
      await enc?.prepareManifest(key, buf);
      return buf;
    };
    return readChecked(get, enc ? (buf: Buffer) => enc.decodeManifest(key, buf) : decodeManifest, (o) => this.#failed(o, key), signal);
  }

  /** The header only: the first few KiB of the object (more when the header is longer). */
  readHeader(key: string): Promise<ManifestHeader> {
    const enc = this.#enc;
    const store = this.#store;
    const get = async () => {
      const buf = await store.getRange(key, 0, HEADER_PROBE_BYTES);
      let need: number;
      try {
        need = enc ? enc.headBytes(key, buf) : MANIFEST_PREFIX_BYTES + headerLength(buf);
      } catch {
        return buf; // the check below names the damage
      }
      const head = need > buf.length ? await store.getRange(key, 0, need) : buf;
      await enc?.prepareManifest(key, head);
      return head;
    };
    return readChecked(get, enc ? (buf: Buffer) => enc.decodeHeader(key, buf) : decodeHeader, (o) => this.#failed(o, key));
  }

  /** The stored form: sealed in an encrypted vault, in the key domain the header names
   *  (`defaultDomain` when it names none). */
  encode(key: string, header: ManifestHeader, list: ManifestEntry[], defaultDomain: () => string | undefined): Buffer {
    if (!this.#enc) return encodeManifest(header, list);
    const h = header.keyDomain ? header : { ...header, keyDomain: defaultDomain() };
    return this.#enc.encodeManifest(key, h as ManifestHeader, list);
  }

  #failed(o: RereadOutcome, key: string): Error {
    if (!o.stable) return unstableReadError(key, this.#store.url, o);
    const e = o.error;
    if (e instanceof ManifestFormatError) {
      return new BlockvaultError(ErrorCodes.vaultDamaged, `manifest ${key} in ${this.#store.url} is damaged: ${e.message}`, {
        hint: 'run `blockvault verify`; restore the object from a copy of the vault, or delete that backup',
        details: { object: key },
      });
    }
    return e;
  }
}
