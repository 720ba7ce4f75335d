// The SDK client an S3 store talks through, and why each setting (docs/s3.md has the
// measurements):
// - checksums WHEN_REQUIRED: the SDK's default (CRC32 trailers, aws-chunked bodies) fails on
//   Ceph 16 (411) and Swift (501). Integrity in transit comes from the SigV4-signed payload
//   SHA-256 over http and Content-MD5 over https (both verified by every real server), plus
//   the engine's own content hashes.
// - path-style addressing whenever a custom endpoint is given (no wildcard DNS needed).
// - the SDK's own retries off (maxAttempts 1): the store retries itself (s3/attempts.ts), per
//   attempt with its own deadlines, because the pinned SDK's requestTimeout only logs a
//   warning and its retries cannot see a body that stalls or ends short.
// - a keep-alive agent sized to the concurrency; a no-op logger, so the SDK prints nothing.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { ErrorCodes } from '../../errors.js';
import { StoreError } from '../store-errors.js';
import { S3_DEFAULTS, type S3StoreOptions } from './options.js';

export interface S3ClientSetup {
  client: S3Client;
  agent: http.Agent;
  /** The endpoint named in messages. */
  endpoint: string;
  /** Given by option or environment (not AWS itself). */
  customEndpoint: string | undefined;
  contentMd5: boolean;
}

export const md5 = (b: Uint8Array | string) => createHash('md5').update(b);

/** The SDK prints nothing through this (its handler would warn on console otherwise). */
const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export function createS3Client(url: string, opts: S3StoreOptions, concurrency: number): S3ClientSetup {
  const endpointOpt = opts.endpoint || process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
  const customEndpoint = endpointOpt?.replace(/\/+$/, '');
  const endpoint = customEndpoint ?? `https://s3.${opts.region ?? process.env.AWS_REGION ?? 'us-east-1'}.amazonaws.com`;
  if (customEndpoint && !/^https?:\/\/[^/]/.test(customEndpoint)) {
    throw new StoreError('badRequest', `S3 endpoint ${JSON.stringify(customEndpoint)} for ${url} is not an http:// or https:// URL`, {
      code: ErrorCodes.badInput,
      hint: 'write it as http://host:port or https://host',
    });
  }
  if (!!opts.accessKeyId !== !!opts.secretAccessKey) {
    throw new StoreError('auth', `S3 credentials for ${url}: an access key needs its secret key, and the other way round`, {
      code: ErrorCodes.badInput,
      hint: 'give both accessKeyId and secretAccessKey, or neither to use the AWS credential chain',
    });
  }
  // Keep-alive: a TCP (and TLS) handshake per 4 MiB chunk would cost more than the request.
  // A few spare sockets over the limit cover requests whose responses are still draining.
  const agentOpts = { keepAlive: true, maxSockets: concurrency + 8, maxFreeSockets: concurrency + 8 };
  const isHttp = customEndpoint?.startsWith('http:') ?? false;
  const agent = isHttp ? new http.Agent(agentOpts) : new https.Agent(agentOpts);
  const connectionTimeout = opts.connectTimeoutMs ?? S3_DEFAULTS.connectTimeoutMs;

  const config: S3ClientConfig = {
    region: opts.region ?? resolveRegion,
    forcePathStyle: opts.forcePathStyle ?? !!customEndpoint,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    logger: quietLogger,
    requestHandler: isHttp
      ? { httpAgent: agent, connectionTimeout, logger: quietLogger }
      : { httpsAgent: agent as https.Agent, connectionTimeout, logger: quietLogger },
  };
  if (customEndpoint) config.endpoint = customEndpoint;
  if (opts.accessKeyId && opts.secretAccessKey) {
    config.credentials = {
      accessKeyId: opts.accessKeyId,
      secretAccessKey: opts.secretAccessKey,
      ...(opts.sessionToken ? { sessionToken: opts.sessionToken } : {}),
    };
  }
  const client = withSdkNoticeSilenced(() => new S3Client(config));

  // DeleteObjects must carry a checksum; SDK ≥3.729 sends only x-amz-checksum-crc32, and
  // some servers (Swift s3api, older RGW and appliances) insist on Content-MD5.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const req = args.request as { body?: unknown; headers?: Record<string, string> } | undefined;
      if (context.commandName === 'DeleteObjectsCommand' && req?.headers) {
        const body = req.body;
        if (typeof body === 'string' || body instanceof Uint8Array) req.headers['content-md5'] = md5(body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', priority: 'low', name: 'blockvaultDeleteObjectsContentMd5' },
  );
  return { client, agent, endpoint, customEndpoint, contentMd5: opts.contentMd5 ?? !isHttp };
}

/**
 * The SDK emits a 9-line NodeVersionSupportWarning the first time a client is made on Node
 * < 22. This project pins an SDK release that supports Node 20 on purpose (docs/s3.md), and a
 * library user can do nothing about it, so the library must not print it. The SDK reads one
 * environment variable once and then remembers it has decided: set it only around the first
 * client's construction, and put it back, so the process's environment is left as it was. An
 * operator who sets the variable to "false" still sees the notice.
 */
let noticeDecided = false;
function withSdkNoticeSilenced<T>(make: () => T): T {
  const VAR = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';
  if (noticeDecided || process.env[VAR] !== undefined) {
    noticeDecided = true;
    return make();
  }
  process.env[VAR] = 'true';
  try {
    return make();
  } finally {
    delete process.env[VAR];
    noticeDecided = true;
  }
}

/** Region from the AWS chain (AWS_REGION, AWS_DEFAULT_REGION, the profile), else us-east-1. */
let regionPromise: Promise<string> | undefined;
function resolveRegion(): Promise<string> {
  regionPromise ??= (async () => {
    const env = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
    if (env) return env;
    const probe = withSdkNoticeSilenced(() => new S3Client({ logger: quietLogger }));
    try {
      return await probe.config.region();
    } catch {
      return 'us-east-1';
    } finally {
      probe.destroy();
    }
  })();
  return regionPromise;
}
