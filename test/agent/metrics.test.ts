// The metrics feeders on their own: the instrumented store's results per request (on a local
// store and on the real S3 server), and bytes by stage counted from cumulative progress
// counters without counting any byte twice; and an agent on an S3 vault.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { startAgent } from '../../src/agent/index.js';
import { BlockvaultMetrics } from '../../src/metrics/prometheus.js';
import { instrumentStore, type StoreRequestEvent } from '../../src/store/instrumented-store.js';
import { openStore } from '../../src/store/open-store.js';
import { makeImage, tempDir, type Kind } from '../helpers/images.js';
import { createTestBucket, getS3Endpoint, removeBucket, stopS3Server, type S3Endpoint } from '../helpers/s3-server.js';
import { TOKEN, call, jobReaches } from './helpers.js';

const target = await getS3Endpoint();
const skip = 'skip' in target ? target.skip : undefined;
const s3 = target as S3Endpoint;
const dirs: string[] = [];
const buckets: string[] = [];
afterAll(async () => {
  for (const b of buckets) await removeBucket(s3, b);
  if (!skip) await stopS3Server();
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

async function exercise(location: string, opts: object): Promise<StoreRequestEvent[]> {
  const seen: StoreRequestEvent[] = [];
  const store = instrumentStore(await openStore(location, opts), { onRequest: (e) => seen.push(e) });
  await expect(store.get('nope')).rejects.toThrow();
  expect(await store.put('a', Buffer.from('hello'), { ifAbsent: true })).toBe(true);
  expect(await store.put('a', Buffer.from('again'), { ifAbsent: true })).toBe(false);
  expect((await store.get('a')).toString()).toBe('hello');
  expect(await store.head('b')).toBeUndefined();
  const keys: string[] = [];
  for await (const o of store.list('')) keys.push(o.key);
  expect(keys).toContain('a');
  await store.delete('a');
  await store.close();
  return seen;
}

function summary(seen: StoreRequestEvent[]): string[] {
  return seen.map((e) => `${e.operation}:${e.result}:${e.bytesOut}:${e.bytesIn}`);
}

describe('instrumented store', () => {
  it('tells each request once with its result and bytes (local directory)', async () => {
    const dir = await tempDir('instrumented');
    dirs.push(dir);
    const seen = await exercise(path.join(dir, 'store'), { create: true });
    expect(summary(seen)).toEqual(['get:not_found:0:0', 'putIfAbsent:ok:5:0', 'putIfAbsent:exists:5:0', 'get:ok:0:5', 'head:not_found:0:0', 'list:ok:0:0', 'delete:ok:0:0']);
    expect(seen.every((e) => e.durationMs >= 0)).toBe(true);
  });

  it.skipIf(!!skip)('the same on the real S3 server', async () => {
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    const bucket = await createTestBucket(s3, 'instrumented');
    buckets.push(bucket);
    const seen = await exercise(`s3://${bucket}/p`, { endpoint: s3.endpoint });
    expect(summary(seen)).toEqual(['get:not_found:0:0', 'putIfAbsent:ok:5:0', 'putIfAbsent:exists:5:0', 'get:ok:0:5', 'head:not_found:0:0', 'list:ok:0:0', 'delete:ok:0:0']);
  });
});

describe('bytes by stage', () => {
  it('adds only the growth of each cumulative counter; a finished operation leaves the throughput', async () => {
    const m = new BlockvaultMetrics({ processMetrics: false });
    m.progress('j1', 'backup', { bytesScanned: 100, bytesRead: 60, blocksTotal: 9 }, 1000);
    m.progress('j1', 'backup', { bytesScanned: 300, bytesRead: 60, blocksTotal: 9 }, 2000);
    m.progress('j2', 'backup', { bytesScanned: 50 }, 1500);
    m.progress('j2', 'backup', { bytesScanned: 150 }, 2500);
    let text = await m.text();
    expect(text).toMatch(/^blockvault_bytes_total\{op="backup",stage="scanned"\} 450$/m);
    expect(text).toMatch(/^blockvault_bytes_total\{op="backup",stage="read"\} 60$/m);
    expect(text).not.toMatch(/blocksTotal|stage="blocks/);
    expect(text).toMatch(/^blockvault_throughput_bytes_per_second\{op="backup"\} 300$/m); // 200/s + 100/s
    m.forget('j1');
    text = await m.text();
    expect(text).toMatch(/^blockvault_throughput_bytes_per_second\{op="backup"\} 100$/m);
    m.progress('r1', 'restore', { bytesRestored: 10, bytesFetched: 4 }, 0);
    expect(await m.text()).toMatch(/^blockvault_bytes_total\{op="restore",stage="fetched"\} 4$/m);
  });
});

describe('store errors and retries', () => {
  it('a failed request counts as an error by code; each retried attempt the store reports counts as a retry', async () => {
    const m = new BlockvaultMetrics({ processMetrics: false });
    const err = Object.assign(new Error('slow down'), { code: 'BV.Store', details: { attempts: 3, s3Code: 'SlowDown' } });
    m.storeObserver().onRequest({ operation: 'put', result: 'error', durationMs: 12, bytesOut: 0, bytesIn: 0, error: err });
    const { onRetry } = m.retryHook().store.s3;
    onRetry({ operation: 'get', category: 'throttled' });
    onRetry({ operation: 'get', category: 'throttled' });
    const text = await m.text();
    expect(text).toMatch(/^blockvault_store_errors_total\{operation="put",code="BV.Store"\} 1$/m);
    expect(text).toMatch(/^blockvault_store_retries_total\{operation="get",category="throttled"\} 2$/m);
    expect(text).toMatch(/^blockvault_store_requests_total\{operation="put",result="error"\} 1$/m);
  });
});

describe.skipIf(!!skip)('agent on an S3 vault', () => {
  it('runs a backup job to SUCCESS and counts its S3 requests', async () => {
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    const bucket = await createTestBucket(s3, 'agent');
    buckets.push(bucket);
    const dir = await tempDir('agent-s3');
    dirs.push(dir);
    const image = path.join(dir, 'disk.img');
    await makeImage(image, { blockSize: 65536, seed: 2, blocks: ['random', 'text', 'hole', 'random'] as Kind[] });
    const { openVault } = await import('../../src/index.js');
    await (await openVault(`s3://${bucket}/v`, { endpoint: s3.endpoint, create: true, blockSize: 65536 })).close();
    const agent = await startAgent({
      vault: `s3://${bucket}/v`,
      vaultOptions: { endpoint: s3.endpoint, indexCacheDir: path.join(dir, 'cache') },
      listen: '127.0.0.1:0',
      token: TOKEN,
      heartbeatMs: 200,
      logger: pino({ level: 'silent' }),
    });
    try {
      expect((await call(agent, 'POST', '/v1/jobs', { body: { type: 'backup', source: image, volume_id: 'vol-s3', job_id: 'job-s3' } })).status).toBe(202);
      const done = await jobReaches(agent, 'job-s3', 'SUCCESS', 'FAIL');
      expect(done.status, done.fail_reason).toBe('SUCCESS');
      const backups = await call(agent, 'GET', '/v1/backups?volume_id=vol-s3');
      expect(backups.body.backups[0]).toMatchObject({ status: 'available', container: bucket });
      const text = (await call(agent, 'GET', '/metrics')).text;
      const puts = Number(/^blockvault_store_requests_total\{operation="putIfAbsent",result="ok"\} (\d+)$/m.exec(text)?.[1]);
      expect(puts).toBeGreaterThanOrEqual(3); // chunks and the manifest
      expect(text).toMatch(/^blockvault_store_bytes_total\{direction="out"\} [1-9]/m);
    } finally {
      await agent.close();
    }
  });

  it('counts the retries of S3 requests that succeed in the end (503 SlowDown through a proxy)', async () => {
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    const bucket = await createTestBucket(s3, 'agent-retry');
    buckets.push(bucket);
    const dir = await tempDir('agent-s3-retry');
    dirs.push(dir);
    const image = path.join(dir, 'disk.img');
    await makeImage(image, { blockSize: 65536, seed: 5, blocks: ['random', 'random', 'text', 'random'] as Kind[] });
    const { openVault } = await import('../../src/index.js');
    await (await openVault(`s3://${bucket}/v`, { endpoint: s3.endpoint, create: true, blockSize: 65536 })).close();
    // Every 2nd PUT of a chunk answers 503 SlowDown, three times at most: the backup succeeds by retrying.
    const proxy = await startFaultProxy(s3.endpoint, { rules: [{ kind: 'status', method: 'PUT', path: /chunks/, everyNth: 2, maxCount: 3, forMs: 60_000 }] });
    const agent = await startAgent({
      vault: `s3://${bucket}/v`,
      vaultOptions: { endpoint: proxy.endpoint, indexCacheDir: path.join(dir, 'cache') },
      listen: '127.0.0.1:0',
      token: TOKEN,
      heartbeatMs: 200,
      logger: pino({ level: 'silent' }),
    });
    try {
      expect((await call(agent, 'POST', '/v1/jobs', { body: { type: 'backup', source: image, volume_id: 'vol-r', job_id: 'job-r' } })).status).toBe(202);
      const done = await jobReaches(agent, 'job-r', 'SUCCESS', 'FAIL');
      expect(done.status, done.fail_reason).toBe('SUCCESS');
      expect(proxy.faults('status')).toBe(3);
      const text = (await call(agent, 'GET', '/metrics')).text;
      // Every injected 503 is one retried attempt; the real server may add a retry of its own
      // (a fresh cluster answers an occasional 5xx), so the count is at least the faults.
      const retries = [...text.matchAll(/^blockvault_store_retries_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
      expect(retries).toBeGreaterThanOrEqual(3);
      expect(retries).toBeLessThanOrEqual(3 + 3);
    } finally {
      await agent.close();
      await proxy.close();
    }
  });
});
