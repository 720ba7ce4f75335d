// S3Store against a real S3 server (Ceph RGW from scripts/ceph-s3.sh in CI; see
// test/helpers/s3-server.ts for how one is found). Skips only with the helper's reason,
// and never under CI.

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockvaultError, ErrorCodes } from '../../src/errors.js';
import { StoreNotFoundError, type ObjectInfo, type StoreError } from '../../src/store/object-store.js';
import { S3Store, parseS3Url, type S3StoreOptions } from '../../src/store/s3-store.js';
import {
  createTestBucket,
  getS3Endpoint,
  removeBucket,
  stopS3Server,
  uniqueBucketName,
  type S3Endpoint,
} from '../helpers/s3-server.js';
import { storeContract } from './contract.js';
import { blockvaultRejection as rejection } from '../helpers/rejections.js';

const target = await getS3Endpoint();
const skip = 'skip' in target ? target.skip : undefined;
if (skip) console.warn(`[s3-store.test] skipped: ${skip}`);
const s3 = target as S3Endpoint;

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of it) out.push(o);
  return out;
}

describe('parseS3Url', () => {
  it('splits bucket and prefix and normalises the prefix', () => {
    expect(parseS3Url('s3://b-1')).toEqual({ bucket: 'b-1', prefix: '' });
    expect(parseS3Url('s3://b-1/')).toEqual({ bucket: 'b-1', prefix: '' });
    expect(parseS3Url('s3://b-1/a/b')).toEqual({ bucket: 'b-1', prefix: 'a/b/' });
    expect(parseS3Url('s3://b-1//a//b/')).toEqual({ bucket: 'b-1', prefix: 'a/b/' });
  });
  it('rejects what is not an S3 URL with a clear badInput error', () => {
    for (const bad of ['http://x/y', 's3://', 's3:///p', 'bucket/p', 's3:/bucket', 's3:bucket', 's3://UPPER', 's3://ab', 's3://b-1/../x', 's3://b-1?x=1']) {
      let err: StoreError | undefined;
      try {
        parseS3Url(bad);
      } catch (e) {
        err = e as StoreError;
      }
      expect(err, bad).toBeInstanceOf(BlockvaultError);
      expect(err!.code, bad).toBe(ErrorCodes.badInput);
      expect(err!.category, bad).toBe('badRequest');
      expect(err!.message, bad).toContain(JSON.stringify(bad));
    }
  });
});

{
  // The shared contract, on its own bucket.
  let contractBucket = '';
  storeContract('S3 (real server)', {
    skip,
    open: async () => {
      contractBucket ||= await createTestBucket(s3, 's3-contract');
      return S3Store.open(`s3://${contractBucket}/c`, { endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
    },
    cleanup: async () => {
      if (contractBucket) await removeBucket(s3, contractBucket);
    },
  });
}

/** An HTTP proxy in front of the real server. `intercept` may answer a request itself
 *  (return true); everything else is forwarded with its Host header unchanged, so the
 *  client's SigV4 signature still holds. */
async function startProxy(
  upstreamUrl: string,
  intercept: (req: http.IncomingMessage, res: http.ServerResponse) => boolean,
): Promise<{ endpoint: string; close: () => void }> {
  const upstream = new URL(upstreamUrl);
  const proxy = http.createServer((req, res) => {
    if (intercept(req, res)) return;
    const up = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const port = (proxy.address() as net.AddressInfo).port;
  return { endpoint: `http://127.0.0.1:${port}`, close: () => { proxy.closeAllConnections(); proxy.close(); } };
}

function s3ErrorReply(res: http.ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
}

describe.skipIf(!!skip)(`S3Store on a real server (${'skip' in target ? 'none' : `${s3.source} ${s3.endpoint}`})`, () => {
  let bucket: string;
  let store: S3Store;
  const opts = (): S3StoreOptions => ({ endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });

  beforeAll(async () => {
    bucket = await createTestBucket(s3, 's3-store');
    store = await S3Store.open(`s3://${bucket}/vault`, opts());
  });
  afterAll(async () => {
    await store?.close();
    if (bucket) await removeBucket(s3, bucket);
    await stopS3Server();
  });

  it('puts, gets, reads ranges and heads objects under the prefix', async () => {
    expect(store.url).toBe(`s3://${bucket}/vault/`);
    expect(store.capabilities.conditionalWrite).toBe(true);
    const data = randomBytes(4 * 1024 * 1024 + 17);
    expect(await store.put('chunks/ab/abc', data)).toBe(true);
    expect((await store.get('chunks/ab/abc')).equals(data)).toBe(true);
    expect((await store.getRange('chunks/ab/abc', 1000, 5000)).equals(data.subarray(1000, 6000))).toBe(true);
    // fewer bytes at the end, none past it
    expect((await store.getRange('chunks/ab/abc', data.length - 10, 100)).equals(data.subarray(data.length - 10))).toBe(true);
    expect((await store.getRange('chunks/ab/abc', data.length + 5, 100)).length).toBe(0);
    expect((await store.getRange('chunks/ab/abc', 7, 0)).length).toBe(0);

    const h = await store.head('chunks/ab/abc');
    expect(h?.size).toBe(data.length);
    expect(h?.key).toBe('chunks/ab/abc');
    expect(h?.etag).toBe(createHash('md5').update(data).digest('hex')); // unquoted
    expect(h?.lastModified).toBeInstanceOf(Date);

    // absent objects
    expect(await store.head('chunks/none')).toBeUndefined();
    await expect(store.get('chunks/none')).rejects.toBeInstanceOf(StoreNotFoundError);
    await expect(store.getRange('chunks/none', 0, 10)).rejects.toBeInstanceOf(StoreNotFoundError);
    await store.delete('chunks/none'); // idempotent

    // an empty object
    expect(await store.put('empty', Buffer.alloc(0))).toBe(true);
    expect((await store.get('empty')).length).toBe(0);

    // overwrite, then delete
    expect(await store.put('chunks/ab/abc', Buffer.from('v2'))).toBe(true);
    expect((await store.get('chunks/ab/abc')).toString()).toBe('v2');
    await store.delete('chunks/ab/abc');
    expect(await store.head('chunks/ab/abc')).toBeUndefined();
    await store.sync();
  });

  it('lists more than 1000 keys through continuation tokens, and deletes them in batches', async () => {
    const keys = Array.from({ length: 1234 }, (_, i) => `many/k${String(i).padStart(5, '0')}`);
    await Promise.all(keys.map((k) => store.put(k, Buffer.from(k))));
    await store.put('other/x', Buffer.from('x'));

    const listed = await collect(store.list('many/'));
    expect(listed.map((o) => o.key).sort()).toEqual(keys);
    expect(listed[0]?.size).toBe(keys[0]!.length);
    expect(listed[0]?.etag).toMatch(/^[0-9a-f]{32}$/);

    // another prefix in the same bucket sees none of them
    const sibling = await S3Store.open(`s3://${bucket}/elsewhere`, opts());
    try {
      expect(await collect(sibling.list(''))).toEqual([]);
    } finally {
      await sibling.close();
    }

    await store.deleteMany([...keys, 'many/absent-key']);
    expect(await collect(store.list('many/'))).toEqual([]);
    expect((await collect(store.list(''))).map((o) => o.key)).toContain('other/x');
    await store.deleteMany([]);
  });

  it('put-if-absent creates once, then answers false and keeps the first object', async () => {
    expect(await store.put('manifests/m1', Buffer.from('first'), { ifAbsent: true })).toBe(true);
    expect(await store.put('manifests/m1', Buffer.from('second'), { ifAbsent: true })).toBe(false);
    expect((await store.get('manifests/m1')).toString()).toBe('first');

    // racing writers: exactly one wins
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.put('manifests/race', Buffer.from(`writer ${i}`), { ifAbsent: true })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect((await store.get('manifests/race')).toString()).toBe(`writer ${winner}`);
  });

  it('protects every PUT body (signed SHA-256 over http) and falls back, with one warning, when the server lacks conditional writes', async () => {
    // A proxy that answers 501 to If-None-Match PUTs (as Swift's s3api does) and forwards the rest.
    const seen: Array<{ method: string; url: string; md5: boolean; signedSha: boolean }> = [];
    const proxy = await startProxy(s3.endpoint, (req, res) => {
      const sha = req.headers['x-amz-content-sha256'];
      seen.push({ method: req.method ?? '', url: req.url ?? '', md5: !!req.headers['content-md5'], signedSha: typeof sha === 'string' && /^[0-9a-f]{64}$/.test(sha) });
      if (req.method === 'PUT' && req.headers['if-none-match']) {
        req.resume();
        s3ErrorReply(res, 501, 'NotImplemented', 'A header you provided implies functionality that is not implemented.');
        return true;
      }
      return false;
    });
    const warnings: string[] = [];
    const p = await S3Store.open(`s3://${bucket}/nocond`, {
      ...opts(),
      endpoint: proxy.endpoint,
      onWarning: (m) => warnings.push(m),
    });
    try {
      expect(p.capabilities.conditionalWrite).toBe(false);
      expect(await p.put('m', Buffer.from('first'), { ifAbsent: true })).toBe(true);
      expect(await p.put('m', Buffer.from('second'), { ifAbsent: true })).toBe(false);
      expect((await p.get('m')).toString()).toBe('first');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/conditional writes/);
      expect(warnings[0]).toMatch(/racing/);
      await p.deleteMany(['m', 'n']);
      expect(await p.head('m')).toBeUndefined();
    } finally {
      await p.close();
      proxy.close();
    }
    const puts = seen.filter((s) => s.method === 'PUT');
    expect(puts.length).toBeGreaterThan(0);
    // Over http the body's SHA-256 is signed and checked by the server; Content-MD5 is for https.
    expect(puts.every((s) => s.signedSha && !s.md5)).toBe(true);
    const deletes = seen.filter((s) => s.method === 'POST' && s.url.includes('delete'));
    expect(deletes).toHaveLength(1);
    expect(deletes[0]?.md5).toBe(true);
  });

  it('a body damaged in transit is refused by the server, with or without Content-MD5', async () => {
    // A proxy that flips one byte of every PUT body it forwards.
    const upstream = new URL(s3.endpoint);
    const flip = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        if (req.method === 'PUT' && body.length > 64) body[body.length >> 1]! ^= 0x10;
        const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.on('error', () => res.destroy());
        up.end(body);
      });
    });
    await new Promise<void>((r) => flip.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(flip.address() as net.AddressInfo).port}`;
    try {
      for (const contentMd5 of [false, true]) {
        const p = await S3Store.open(`s3://${bucket}/flip`, { ...opts(), endpoint, contentMd5, maxAttempts: 1, probeConditionalWrite: false });
        try {
          expect(p.contentMd5).toBe(contentMd5);
          const err = await rejection(p.put(`obj-${contentMd5}`, randomBytes(100_000)));
          expect(err.message).toMatch(/received a damaged body/);
          expect(err.details.s3Code).toMatch(contentMd5 ? /BadDigest|XAmzContentSHA256Mismatch/ : /XAmzContentSHA256Mismatch/);
          expect(await p.head(`obj-${contentMd5}`)).toBeUndefined();
        } finally {
          await p.close();
        }
      }
    } finally {
      flip.closeAllConnections();
      flip.close();
    }
  });

  it('backs off on 503 SlowDown, and reports throttling that outlasts the retries', async () => {
    let slowDowns = 2;
    const proxy = await startProxy(s3.endpoint, (req, res) => {
      if (req.method === 'PUT' && slowDowns > 0) {
        slowDowns--;
        req.resume();
        s3ErrorReply(res, 503, 'SlowDown', 'Please reduce your request rate.');
        return true;
      }
      return false;
    });
    const p = new S3Store(`s3://${bucket}/throttle`, { ...opts(), endpoint: proxy.endpoint, maxAttempts: 3 });
    try {
      expect(await p.put('k', Buffer.from('x'))).toBe(true); // two 503s, then through
      expect(slowDowns).toBe(0);
      slowDowns = 1000;
      const err = await rejection(p.put('k2', Buffer.from('x')));
      expect(err.code).toBe(ErrorCodes.store);
      expect(err.message).toMatch(/kept throttling requests after 3 attempts/);
      expect(err.message).toContain(proxy.endpoint);
      expect(err.message).toContain(`s3://${bucket}/throttle/k2`);
      expect(err.message).toContain('SlowDown (HTTP 503): Please reduce your request rate.');
      expect(err.hint).toMatch(/concurrency/);
    } finally {
      await p.close();
      proxy.close();
    }
  });

  it('a wrong secret key gives a clear error naming endpoint and bucket', async () => {
    const err = await rejection(S3Store.open(`s3://${bucket}/vault`, { ...opts(), secretAccessKey: 'wrong-secret' }));
    expect(err.code).toBe(ErrorCodes.store);
    expect(err.message).toContain(s3.endpoint);
    expect(err.message).toContain(bucket);
    expect(err.message).toMatch(/rejected the credentials/);
    expect(err.message).toMatch(/SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied|Forbidden/);
    expect(err.hint).toMatch(/secret key/);
    expect(err.details.endpoint).toBe(s3.endpoint);
    expect(err.details.bucket).toBe(bucket);

    const unknown = await rejection(S3Store.open(`s3://${bucket}/vault`, { ...opts(), accessKeyId: 'NOSUCHKEY' }));
    expect(unknown.message).toMatch(/InvalidAccessKeyId|SignatureDoesNotMatch/);
  });

  it('a missing bucket gives the --create-bucket hint, and createBucket creates it', async () => {
    const name = uniqueBucketName('missing');
    const err = await rejection(S3Store.open(`s3://${name}/v`, opts()));
    expect(err.code).toBe(ErrorCodes.store);
    expect(err.message).toContain(name);
    expect(err.message).toContain(s3.endpoint);
    expect(err.message).toMatch(/does not exist.*NoSuchBucket/);
    expect(err.hint).toContain('--create-bucket');

    const created = await S3Store.open(`s3://${name}/v`, { ...opts(), createBucket: true });
    try {
      expect(await created.put('k', Buffer.from('x'))).toBe(true);
      expect((await created.get('k')).toString()).toBe('x');
      // opening again with createBucket is harmless
      const again = await S3Store.open(`s3://${name}/v`, { ...opts(), createBucket: true });
      expect((await again.get('k')).toString()).toBe('x');
      await again.close();
    } finally {
      await created.close();
      await removeBucket(s3, name);
    }
  });

  it('operations on a bucket that vanished name it too', async () => {
    const name = uniqueBucketName('vanish');
    const s = new S3Store(`s3://${name}`, opts()); // no open(): no check
    try {
      const err = await rejection(s.put('k', Buffer.from('x')));
      expect(err.message).toContain(`s3://${name}/k`);
      expect(err.hint).toContain('--create-bucket');
    } finally {
      await s.close();
    }
  });
});

describe('S3Store against an unreachable endpoint', () => {
  it('fails quickly with a clear error', async () => {
    // a port that was just free: nothing listens there
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const endpoint = `http://127.0.0.1:${port}`;

    const t = Date.now();
    const err = await rejection(S3Store.open('s3://some-bucket/p', { endpoint, accessKeyId: 'a', secretAccessKey: 'b' }));
    const ms = Date.now() - t;
    expect(err.code).toBe(ErrorCodes.store);
    expect(err.message).toContain(`cannot reach S3 endpoint ${endpoint}`);
    expect(err.message).toContain('some-bucket');
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.hint).toMatch(/running and reachable/);
    expect(ms).toBeLessThan(10_000);
    console.log(`[s3-store.test] unreachable endpoint reported in ${ms} ms`);
  });
});
