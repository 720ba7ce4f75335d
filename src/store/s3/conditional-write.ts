// Put-if-absent on S3 is If-None-Match: *, which not every server honours: Swift's s3api
// answers 501, and mocks ignore the header (a second create succeeds). open() probes with a
// tiny object, created twice; without support the store falls back to HEAD-then-PUT and says,
// once, what that costs.

/** true: created; false: the key exists; 'unsupported': the server refused the header. */
export type CreateResult = boolean | 'unsupported';

export interface ConditionalWriteTarget {
  /** One conditional create of key, as the store does it. */
  createIfAbsent(key: string, body: Buffer): Promise<CreateResult>;
  delete(key: string): Promise<void>;
  /** Called when the server lacks the feature, with why. */
  downgrade(why: string): void;
}

export const NO_CONDITIONAL_501 = 'the server answered 501 NotImplemented to If-None-Match: *';

/** If-None-Match: * twice on one probe key: the second must be refused. */
export async function probeConditionalWrite(t: ConditionalWriteTarget, key: string): Promise<void> {
  try {
    const first = await t.createIfAbsent(key, Buffer.from('probe 1'));
    if (first === 'unsupported') return t.downgrade(NO_CONDITIONAL_501);
    const second = await t.createIfAbsent(key, Buffer.from('probe 2'));
    if (second === 'unsupported') return t.downgrade(NO_CONDITIONAL_501);
    if (second === true) return t.downgrade('the server ignored If-None-Match: * (a second create of one key succeeded)');
  } catch (err) {
    // Read-only credentials cannot probe; keep assuming support and detect a 501 on first use.
    const status = (err as { details?: { status?: number } })?.details?.status;
    if (status === 403) return;
    throw err;
  } finally {
    await t.delete(key).catch(() => undefined);
  }
}

export function downgradeWarning(endpoint: string, bucket: string, why: string): string {
  return (
    `S3 endpoint ${endpoint} (bucket ${bucket}) does not support conditional writes: ${why}. ` +
    'Falling back to HEAD-then-PUT for put-if-absent: two writers racing on one key (a manifest or a volume lease) ' +
    'can both believe they created it, so "one operation per volume" is no longer guaranteed across hosts; ' +
    'run one engine at a time against this vault.'
  );
}
