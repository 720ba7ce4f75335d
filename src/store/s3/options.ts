// What an S3 store can be told. Every field is optional: the defaults suit AWS and the
// S3-compatible servers docs/s3.md lists.

export interface S3RetryEvent {
  operation: string;
  key: string | undefined;
  /** The attempt that failed (1 = the first). */
  attempt: number;
  category: string;
  message: string;
  /** Wait before the next attempt. */
  delayMs: number;
}

export interface S3StoreOptions {
  /** http(s)://host:port of an S3-compatible server; default AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, then AWS. */
  endpoint?: string;
  /** Default: the AWS chain (AWS_REGION, profile), else us-east-1. */
  region?: string;
  /** Default: true when a custom endpoint is used. */
  forcePathStyle?: boolean;
  /** Both or neither; default: the AWS credential chain (env, profile, SSO, IMDS…). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Requests in flight at most (default 32). 503 SlowDown lowers it for a while; successes grow it back. */
  concurrency?: number;
  /** The older name of `concurrency`. */
  maxConcurrency?: number;
  /** open(): create the bucket when it does not exist. */
  createBucket?: boolean;
  /** Attempts per request, first included (default 6), all within operationTimeoutMs. */
  maxAttempts?: number;
  /** TCP (and TLS) connect, per attempt (default 5 s). */
  connectTimeoutMs?: number;
  /** From sending a request to its response headers, per attempt (default 30 s). */
  firstByteTimeoutMs?: number;
  /** Longest pause of a response body that is still flowing, per attempt (default 30 s). */
  bodyIdleTimeoutMs?: number;
  /** One call (get, put, a list page…) with all its retries and its wait for a slot (default 120 s). */
  operationTimeoutMs?: number;
  /** First retry waits up to this (doubling per attempt, random jitter; default 200 ms; throttling: 1 s). */
  retryBaseDelayMs?: number;
  /** open(): find out whether If-None-Match: * is honoured, with a tiny probe object (default true). */
  probeConditionalWrite?: boolean;
  /** Where one-time warnings go (default process.emitWarning). */
  onWarning?: (message: string) => void;
  /** Told of every retry (metrics, logs). */
  onRetry?: (event: S3RetryEvent) => void;
  /** Send Content-MD5 on every PutObject. Default: over https only. Over plain http the SDK
   *  signs the body's SHA-256 (x-amz-content-sha256), which the server checks (RGW and AWS
   *  refuse a mismatch with 400 XAmzContentSHA256Mismatch), so an MD5 would hash every byte a
   *  second time, at ~576 MB/s of one core, for no added protection. */
  contentMd5?: boolean;
}

export const S3_DEFAULTS = {
  concurrency: 32,
  maxAttempts: 6,
  connectTimeoutMs: 5_000,
  firstByteTimeoutMs: 30_000,
  bodyIdleTimeoutMs: 30_000,
  operationTimeoutMs: 120_000,
  retryBaseDelayMs: 200,
} as const;

/** See S3Store.defaultConcurrency. 8 blocks of 4 MiB keep 32 MiB moving per round trip; 16
 *  measured no faster on loopback and pushed a 2 GiB backup's peak RSS to 269 MiB. */
export const S3_DEFAULT_BLOCKS_IN_FLIGHT = 8;
