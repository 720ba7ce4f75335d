// Key files. A key file holds 32 random bytes — raw, or as 64 hex characters, or as base64,
// with an optional trailing newline — and is used directly (through HKDF) as a
// key-encryption key: it needs no slow KDF. Anything else in a file is a passphrase (a
// password file), which goes through scrypt like a typed one.
import { randomBytes } from 'node:crypto';

export type KeyFileContent = { kind: 'key'; key: Buffer } | { kind: 'passphrase'; passphrase: Buffer };

export function parseKeyFile(buf: Buffer): KeyFileContent {
  if (buf.length === 32) return { kind: 'key', key: Buffer.from(buf) };
  const text = buf.toString('latin1').replace(/\r?\n$/, '');
  if (/^[0-9a-fA-F]{64}$/.test(text)) return { kind: 'key', key: Buffer.from(text, 'hex') };
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return { kind: 'key', key: Buffer.from(text, 'base64') };
  // A password file: its text without the final newline an editor adds.
  return { kind: 'passphrase', passphrase: buf.subarray(0, Buffer.byteLength(text, 'latin1')) };
}

/** A new key file's content: 32 random bytes as hex and a newline (easy to copy, print, escrow). */
export function newKeyFile(): Buffer {
  return Buffer.from(randomBytes(32).toString('hex') + '\n', 'ascii');
}
