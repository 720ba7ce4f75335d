// Key records: one small public JSON object per way into a key domain, `keys/<id>.json`.
// A record holds the domain's secret wrapped by a key-encryption key (a passphrase through
// scrypt, or a key file), or — for the control plane's KMS — the VK verbatim, which *is* the
// secret wrapped by the CMK. Records are validated before any field is trusted.
import * as v from 'valibot';
import { DOMAIN_ID_HEX } from './domain.js';

export const KEY_PREFIX = 'keys/';
export const KEY_ID = /^[0-9a-f]{16,32}$/;
const HEX = (len?: number) => v.pipe(v.string(), v.regex(len ? new RegExp(`^[0-9a-f]{${len}}$`) : /^(?:[0-9a-f]{2})+$/));
const B64 = v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]*={0,2}$/));

const WrappedSchema = v.object({
  alg: v.literal('aes-256-gcm'),
  nonce: B64,
  tag: B64,
  ciphertext: B64,
});

const Common = {
  version: v.literal(1),
  id: v.pipe(v.string(), v.regex(KEY_ID)),
  domain: v.pipe(v.string(), v.regex(DOMAIN_ID_HEX)),
  created: v.pipe(v.string(), v.isoTimestamp()),
  /** checkValue(domain, secret): proves an unwrapped secret is this domain's. */
  check: HEX(32),
  /** Free text an operator gave ("laptop", "ops escrow"). */
  label: v.optional(v.pipe(v.string(), v.maxLength(200))),
};

export const KeyRecordSchema = v.variant('kind', [
  v.object({
    ...Common,
    kind: v.literal('passphrase'),
    kdf: v.object({
      name: v.literal('scrypt'),
      N: v.pipe(v.number(), v.integer()),
      r: v.pipe(v.number(), v.integer()),
      p: v.pipe(v.number(), v.integer()),
      salt: B64,
    }),
    wrapped: WrappedSchema,
  }),
  v.object({
    ...Common,
    kind: v.literal('keyfile'),
    kdf: v.object({ name: v.literal('hkdf-sha256'), salt: B64 }),
    wrapped: WrappedSchema,
  }),
  v.object({
    ...Common,
    kind: v.literal('kms'),
    /** The control plane's CMK id and the volume's VK, exactly as given. */
    cmkId: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
    vk: v.pipe(v.string(), v.minLength(1), v.maxLength(4096)),
  }),
]);

export type KeyRecord = v.InferOutput<typeof KeyRecordSchema>;
export type KeyKind = KeyRecord['kind'];
export type WrappedKey = v.InferOutput<typeof WrappedSchema>;

export function keyRecordKey(id: string): string {
  return `${KEY_PREFIX}${id}.json`;
}

export function keyIdFromKey(key: string): string | undefined {
  const m = /^keys\/([0-9a-f]{16,32})\.json$/.exec(key);
  return m?.[1];
}

export function encodeKeyRecord(rec: KeyRecord): Buffer {
  return Buffer.from(JSON.stringify(rec, null, 2) + '\n', 'utf8');
}

export class KeyRecordError extends Error {
  constructor(
    message: string,
    readonly object: string,
  ) {
    super(message);
    this.name = 'KeyRecordError';
  }
}

export function decodeKeyRecord(buf: Buffer, object: string): KeyRecord {
  let doc: unknown;
  try {
    doc = JSON.parse(buf.toString('utf8'));
  } catch {
    throw new KeyRecordError(`key record ${object} is not valid JSON`, object);
  }
  const r = v.safeParse(KeyRecordSchema, doc);
  if (!r.success) {
    const issue = r.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join('.') ?? '';
    throw new KeyRecordError(`key record ${object} is not valid: ${path ? `${path}: ` : ''}${issue.message}`, object);
  }
  if (keyIdFromKey(object) !== undefined && keyIdFromKey(object) !== r.output.id) {
    throw new KeyRecordError(`key record ${object} says its id is ${r.output.id}`, object);
  }
  return r.output;
}
