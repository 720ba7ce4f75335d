// Which key domain each copied backup lands in, and whether its chunks travel verbatim.
//
// A backup keeps at the destination the protection it had at the source:
//   plain source backup    → the destination's codec (its default domain when encrypted)
//   default-domain backup  → the destination's default domain (another data key: re-encrypted)
//   KMS backup {cmkId, vk} → the destination's domain for that same context (the VK verbatim;
//                            the destination must be opened with an unwrap callback)
// An encrypted backup into a plain vault is refused unless the caller allows it explicitly:
// storing it in the clear must never happen by accident.
import { BlockvaultError, ErrorCodes } from '../errors.js';
import type { ManifestHeader } from '../vault/manifest.js';
import type { Vault } from '../vault/vault.js';
import { markSide } from './copy-side.js';
import type { ChunkCodecLike, TransferMode } from './copy-transfer.js';

export interface BackupTarget {
  mode: TransferMode;
  /** The destination codec its chunks are framed with (reidentify). */
  codec: ChunkCodecLike;
}

export function encryptedAtSource(h: ManifestHeader): boolean {
  return h.keyDomain !== undefined || h.encryption !== undefined;
}

/** Refuses, before anything is written, the backups the destination cannot hold as they are. */
export function checkDestinationHolds(to: Vault, headers: ManifestHeader[], allowDecrypt: boolean): void {
  if (to.encrypted || allowDecrypt) return;
  const encrypted = headers.filter(encryptedAtSource).map((h) => h.backupId);
  if (encrypted.length === 0) return;
  throw new BlockvaultError(ErrorCodes.badInput, `${to.url} is not encrypted and ${encrypted.length} backup(s) to copy are: copying would store them there in the clear (${encrypted.slice(0, 3).join(', ')}${encrypted.length > 3 ? ', …' : ''})`, {
    hint: 'copy into an encrypted vault, or pass allowDecrypt (CLI: --allow-unencrypted-destination) to store decrypted copies on purpose',
    details: { to: to.url, encryptedBackups: encrypted },
  });
}

/** The destination codec and transfer mode of one backup (opens or makes its domain there). */
export async function targetOf(from: Vault, to: Vault, h: ManifestHeader): Promise<BackupTarget> {
  let codec: ChunkCodecLike;
  try {
    codec = to.encrypted ? await to.chunkCodecFor(h.encryption) : to.chunkCodec;
  } catch (e) {
    throw markSide(e, 'destination');
  }
  if (!encryptedAtSource(h) && !codec.keyDomain) {
    return { mode: from.chunkCodec.hashKey.equals(codec.hashKey) ? 'verbatim' : 'reidentify', codec };
  }
  // One domain on both sides means one data key: the sealed objects are valid as they are.
  return { mode: h.keyDomain !== undefined && h.keyDomain === codec.keyDomain ? 'verbatim' : 'reidentify', codec };
}

/** The destination manifest's key fields: its own domain, the KMS context kept verbatim;
 *  a copy decrypted into a plain vault (allowed explicitly) names neither. */
export function withDestinationKeys(h: ManifestHeader, codec: ChunkCodecLike): ManifestHeader {
  const out: ManifestHeader = { ...h };
  if (codec.keyDomain) {
    out.keyDomain = codec.keyDomain;
  } else {
    delete out.keyDomain;
    delete out.encryption;
  }
  return out;
}
