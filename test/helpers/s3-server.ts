// Finds a real S3 server for the tests, in this order:
//   1. S3_ENDPOINT (+ S3_ACCESS_KEY / S3_SECRET_KEY): what CI sets after .ci/s3-setup.sh
//   2. the local Ceph of scripts/ceph-s3.sh, when it answers on 127.0.0.1:7480
//   3. MinIO through testcontainers, when a Docker engine answers
//   4. otherwise { skip: reason } — except under CI, where a missing server fails the run,
//      so S3 coverage can never silently disappear.
// No mocks: s3rver and friends accept any signature and ignore Content-MD5 and If-None-Match
// (see docs/s3.md), which would hide exactly the bugs these tests are for.

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

export interface S3Endpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Where it came from: env, ceph or minio. */
  source: 'env' | 'ceph' | 'minio';
}

export type S3EndpointOrSkip = S3Endpoint | { skip: string };

// scripts/ceph-s3.sh's port (CEPH_S3_PORT, default 7480)
const CEPH_URL = `http://127.0.0.1:${process.env.CEPH_S3_PORT ?? 7480}`;
// The last MinIO community release with published images (upstream is archived): pin it.
const MINIO_IMAGE = 'minio/minio:RELEASE.2025-04-22T22-12-26Z';

let found: Promise<S3EndpointOrSkip> | undefined;
let stopMinio: (() => Promise<unknown>) | undefined;

/** The S3 server for this test process (found once). Throws under CI when there is none. */
export function getS3Endpoint(): Promise<S3EndpointOrSkip> {
  found ??= find().then((r) => {
    if ('skip' in r && process.env.CI) {
      throw new Error(`CI is set but ${r.skip}. Run .ci/s3-setup.sh first (or set S3_ENDPOINT).`);
    }
    return r;
  });
  return found;
}

/** Stops a MinIO container this process started (call from afterAll; no-op otherwise). */
export async function stopS3Server(): Promise<void> {
  await stopMinio?.();
  stopMinio = undefined;
}

async function find(): Promise<S3EndpointOrSkip> {
  if (process.env.S3_ENDPOINT) {
    return {
      endpoint: process.env.S3_ENDPOINT,
      accessKeyId: process.env.S3_ACCESS_KEY ?? 'testkey',
      secretAccessKey: process.env.S3_SECRET_KEY ?? 'testsecret',
      source: 'env',
    };
  }
  const why: string[] = ['S3_ENDPOINT is not set'];

  const ceph = await answersS3(CEPH_URL);
  if (ceph === true) {
    const keys = await cephKeys();
    return { endpoint: CEPH_URL, ...keys, source: 'ceph' };
  }
  why.push(`no local Ceph on ${CEPH_URL} (${ceph}; start one with scripts/ceph-s3.sh start)`);

  try {
    const { getContainerRuntimeClient, GenericContainer, Wait } = await import('testcontainers');
    await getContainerRuntimeClient(); // rejects within milliseconds when there is no engine
    const user = 'blockvault';
    const password = randomBytes(12).toString('hex');
    const c = await new GenericContainer(MINIO_IMAGE)
      .withEnvironment({ MINIO_ROOT_USER: user, MINIO_ROOT_PASSWORD: password })
      .withCommand(['server', '/data'])
      .withExposedPorts(9000)
      .withWaitStrategy(Wait.forHttp('/minio/health/live', 9000))
      .start();
    stopMinio = () => c.stop();
    return { endpoint: `http://${c.getHost()}:${c.getMappedPort(9000)}`, accessKeyId: user, secretAccessKey: password, source: 'minio' };
  } catch (err) {
    why.push(`no Docker engine for MinIO (${(err as Error).message.split('\n')[0]})`);
  }
  return { skip: `no S3 server: ${why.join('; ')}` };
}

/** true when an S3 server answers at url, else the reason it does not. */
async function answersS3(url: string): Promise<true | string> {
  try {
    const r = await fetch(url + '/', { signal: AbortSignal.timeout(2_000) });
    const body = await r.text();
    // An anonymous GET / gives ListAllMyBucketsResult on RGW, or an S3 error document elsewhere.
    return /ListAllMyBucketsResult|<Error>/.test(body) ? true : `HTTP ${r.status} without an S3 answer`;
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return e.cause?.code ?? e.cause?.message ?? e.message;
  }
}

/** The keys scripts/ceph-s3.sh created (its s3.env), else its defaults. */
async function cephKeys(): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const dir = process.env.CEPH_S3_DIR ?? '/var/tmp/ceph-s3';
  try {
    const env = await readFile(`${dir}/s3.env`, 'utf8');
    const ak = /S3_ACCESS_KEY=(\S+)/.exec(env)?.[1];
    const sk = /S3_SECRET_KEY=(\S+)/.exec(env)?.[1];
    if (ak && sk) return { accessKeyId: ak, secretAccessKey: sk };
  } catch {
    // not readable (another user's cluster): fall back to the script's defaults
  }
  return { accessKeyId: process.env.S3_ACCESS_KEY ?? 'testkey', secretAccessKey: process.env.S3_SECRET_KEY ?? 'testsecret' };
}

/** A bucket name no other test file or run uses: bv-<label>-<time>-<random>. */
export function uniqueBucketName(label: string): string {
  const clean = label.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 30) || 'test';
  return `bv-${clean}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** A raw SDK client for test set-up and clean-up (not the code under test). */
export function rawS3Client(s3: S3Endpoint): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Creates a fresh bucket for one test file; pair with removeBucket in afterAll. */
export async function createTestBucket(s3: S3Endpoint, label: string): Promise<string> {
  const bucket = uniqueBucketName(label);
  const c = rawS3Client(s3);
  try {
    await c.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    c.destroy();
  }
  return bucket;
}

/** Empties and deletes a bucket (best effort; for afterAll). */
export async function removeBucket(s3: S3Endpoint, bucket: string): Promise<void> {
  const c = rawS3Client(s3);
  try {
    for (;;) {
      const r = await c.send(new ListObjectsV2Command({ Bucket: bucket }));
      const keys = (r.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (!keys.length) break;
      await c.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    }
    await c.send(new DeleteBucketCommand({ Bucket: bucket }));
  } catch {
    // left for the throw-away server to lose
  } finally {
    c.destroy();
  }
}
