// A hung S3 server and a cancel (issue 9.3), through a fault proxy in front of the real server:
//  - the built CLI, SIGTERM ~1 s after the server hangs a request: exit 130 within 10 s, for a
//    backup and a list, at several depths (opening the store, a chunk upload, the manifest
//    listing); after a cancelled backup its lease is gone and no manifest appeared;
//  - the library with an AbortController: restore and gc reject as cancelled within seconds;
//  - short configured timeouts: a hung server fails backup and list with the timeout error
//    (exit code 1) within the bound.
// Every case is bounded in time (the proxy's rules expire) and in requests (counted).
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, exitCodeFor, gc, listBackups, openVault, restore, StoreError, type OpenVaultOptions, type Vault } from '../../src/index.js';
import { finish, startCli } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy, type FaultRule } from '../helpers/fault-proxy.js';
import { makeImage, tempDir } from '../helpers/images.js';
import { createTestBucket, getS3Endpoint, rawS3Client, removeBucket, stopS3Server, type S3Endpoint } from '../helpers/s3-server.js';
import { rejection } from '../helpers/rejections.js';

const target = await getS3Endpoint();
const skip = 'skip' in target ? target.skip : undefined;
if (skip) console.warn(`[s3-cancel.test] skipped: ${skip}`);
const s3 = target as S3Endpoint;
const BS = 64 * 1024;
/** No rule outlives a case. */
const HANG_MS = 20_000;

let dir = '';
let bucket = '';
let proxy: FaultProxy;
let env: NodeJS.ProcessEnv = {};
let img = '';
let seeded = '';

const url = () => `s3://${bucket}/v`;
const viaProxy = (s3extra: Record<string, unknown> = {}): OpenVaultOptions => ({
  blockSize: BS,
  store: { s3: { endpoint: proxy.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, ...s3extra } },
});

async function keys(prefix: string): Promise<string[]> {
  const r = await rawS3Client(s3).send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `v/${prefix}` }));
  return (r.Contents ?? []).map((o) => o.Key!);
}

/** Resolves once the proxy has hung a request (polls its log), with the time it did. */
async function hungRequest(since: number, limitMs = 15_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < limitMs) {
    if (proxy.log.slice(since).some((l) => l.fault === 'hang' || l.fault === 'hang-body')) return Date.now();
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the proxy hung no request');
}

/** Starts the CLI, waits for the server to hang a request, then SIGTERMs it ~1 s later. */
async function cancelCli(args: string[], rules: FaultRule[], opts: { thenRules?: FaultRule[] } = {}) {
  const since = proxy.log.length;
  proxy.setRules(rules);
  const child: ChildProcess = startCli(args, { env });
  const done = finish(child);
  await hungRequest(since);
  if (opts.thenRules) proxy.setRules(opts.thenRules);
  await new Promise((r) => setTimeout(r, 1000));
  const killedAt = Date.now();
  child.kill('SIGTERM');
  const r = await done;
  const elapsed = Date.now() - killedAt;
  proxy.setRules([]);
  console.log(`[s3-cancel] ${args[0]}: exit ${r.code} ${elapsed} ms after SIGTERM, ${proxy.log.length - since} requests`);
  return { ...r, elapsed, requests: proxy.log.length - since };
}

beforeAll(async () => {
  if (skip) return;
  dir = await tempDir('s3cancel');
  bucket = await createTestBucket(s3, 's3-cancel');
  proxy = await startFaultProxy(s3.endpoint, { seed: 9 });
  env = {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_ENDPOINT_URL_S3: proxy.endpoint,
    BLOCKVAULT_CACHE_DIR: path.join(dir, 'cache'),
  };
  process.env.BLOCKVAULT_CACHE_DIR = env.BLOCKVAULT_CACHE_DIR;
  const first = path.join(dir, 'first.img');
  await makeImage(first, { blocks: ['random', 'text', 'random', 'hole', 'random', 'text'], blockSize: BS, seed: 1 });
  img = path.join(dir, 'second.img');
  await makeImage(img, { blocks: Array.from({ length: 24 }, (_, i) => (i % 3 === 2 ? 'text' : 'random')), blockSize: BS, seed: 2 });
  // The vault and one backup exist before any fault.
  const vault = await openVault(url(), { ...viaProxy(), create: true });
  seeded = (await backup(vault, { source: first, volumeId: 'vol-1', workers: 0 })).backupId;
  await vault.close();
});
afterAll(async () => {
  if (skip) return;
  await proxy?.close();
  if (bucket) await removeBucket(s3, bucket);
  await stopS3Server();
  await fs.rm(dir, { recursive: true, force: true });
});

describe.skipIf(!!skip)('SIGTERM ends a CLI operation on a hung server within seconds (exit 130)', () => {
  it('backup, the server hanging every request (opening the store)', async () => {
    const r = await cancelCli(['backup', img, '--vault', url(), '--volume', 'vol-2'], [{ kind: 'hang', forMs: HANG_MS }]);
    expect(r.code, r.stderr).toBe(130);
    expect(r.elapsed).toBeLessThan(10_000);
    expect(r.stderr).toMatch(/cancelled/);
    expect(r.requests).toBeLessThanOrEqual(4);
  });

  it('backup, the server hanging chunk uploads: lease released, nothing made visible', async () => {
    const before = await keys('manifests/');
    const r = await cancelCli(['backup', img, '--vault', url(), '--volume', 'vol-2'], [{ kind: 'hang', method: 'PUT', path: /\/chunks\//, forMs: HANG_MS }]);
    expect(r.code, r.stderr).toBe(130);
    expect(r.elapsed).toBeLessThan(10_000);
    expect(r.requests).toBeLessThan(200);
    // The release ran after the cancel (the lease object is gone), and no manifest appeared.
    expect(await keys('leases/')).toEqual([]);
    expect(await keys('manifests/')).toEqual(before);
  });

  it('backup, the whole server hanging once the lease is held: the release is bounded too', async () => {
    const r = await cancelCli(['backup', img, '--vault', url(), '--volume', 'vol-3'], [{ kind: 'hang', method: 'PUT', path: /\/chunks\//, forMs: HANG_MS }], {
      thenRules: [{ kind: 'hang', forMs: HANG_MS }],
    });
    expect(r.code, r.stderr).toBe(130);
    expect(r.elapsed).toBeLessThan(10_000);
    expect(r.requests).toBeLessThan(200);
    // The release met the hung server and gave up at its bound: the lease is left to expire.
    expect(await keys('leases/')).toEqual(['v/leases/vol-3.json']);
    await rawS3Client(s3).send(new DeleteObjectCommand({ Bucket: bucket, Key: 'v/leases/vol-3.json' }));
  });

  it('list, the server hanging every request', async () => {
    const r = await cancelCli(['list', '--vault', url()], [{ kind: 'hang', forMs: HANG_MS }]);
    expect(r.code, r.stderr).toBe(130);
    expect(r.elapsed).toBeLessThan(10_000);
    expect(r.requests).toBeLessThanOrEqual(4);
  });

  it('list, the server hanging the manifest listing', async () => {
    const r = await cancelCli(['list', '--vault', url()], [{ kind: 'hang', method: 'GET', path: /prefix=[^&]*manifests/, forMs: HANG_MS }]);
    expect(r.code, r.stderr).toBe(130);
    expect(r.elapsed).toBeLessThan(10_000);
    expect(r.requests).toBeLessThan(20);
  });
});

describe.skipIf(!!skip)('an AbortController ends a library operation on a hung server within seconds', () => {
  async function aborted(run: (vault: Vault, signal: AbortSignal) => Promise<unknown>, rules: FaultRule[]) {
    const vault = await openVault(url(), viaProxy());
    const since = proxy.log.length;
    const ac = new AbortController();
    proxy.setRules(rules);
    const p = rejection(run(vault, ac.signal));
    await hungRequest(since);
    await new Promise((r) => setTimeout(r, 1000));
    const t = Date.now();
    ac.abort(new Error('test cancel'));
    const e = await p;
    const elapsed = Date.now() - t;
    proxy.setRules([]);
    await vault.close();
    console.log(`[s3-cancel] abort: rejected ${elapsed} ms after abort(), ${proxy.log.length - since} requests`);
    return { e, elapsed, requests: proxy.log.length - since };
  }

  it('restore, the server hanging chunk reads: cancelled, no target, lease released', async () => {
    const out = path.join(dir, 'restored.img');
    const r = await aborted((vault, signal) => restore(vault, { backupId: seeded, target: out, signal }), [
      { kind: 'hang', method: 'GET', path: /\/chunks\//, forMs: HANG_MS },
    ]);
    expect(exitCodeFor(r.e), String(r.e)).toBe(130);
    expect(r.elapsed).toBeLessThan(3000);
    expect(r.requests).toBeLessThan(50);
    await expect(fs.stat(out)).rejects.toThrow();
    expect(await keys('leases/')).toEqual([]);
  });

  it('gc, the server hanging the chunk listing: cancelled, GC lease released', async () => {
    const r = await aborted((vault, signal) => gc(vault, { signal }), [{ kind: 'hang', method: 'GET', path: /prefix=[^&]*chunks/, forMs: HANG_MS }]);
    expect(exitCodeFor(r.e), String(r.e)).toBe(130);
    expect(r.elapsed).toBeLessThan(3000);
    expect(r.requests).toBeLessThan(50);
    expect(await keys('leases/')).toEqual([]);
  });
});

describe.skipIf(!!skip)('short configured timeouts: a hung server fails the operation with the timeout error', () => {
  /** An attempt gets 500 ms to answer, a call 2 s in all. */
  const SHORT = { firstByteTimeoutMs: 500, bodyIdleTimeoutMs: 500, operationTimeoutMs: 2000, maxAttempts: 3, retryBaseDelayMs: 50 };

  async function timedOut(run: (vault: Vault) => Promise<unknown>) {
    const vault = await openVault(url(), viaProxy(SHORT));
    const since = proxy.log.length;
    proxy.setRules([{ kind: 'hang', forMs: HANG_MS }]);
    const t = Date.now();
    const e = await rejection(run(vault));
    const elapsed = Date.now() - t;
    proxy.setRules([]);
    await vault.close();
    console.log(`[s3-cancel] timeout: failed after ${elapsed} ms, ${proxy.log.length - since} requests`);
    return { e, elapsed, requests: proxy.log.length - since };
  }

  for (const [name, run] of [
    ['backup', (vault: Vault) => backup(vault, { source: img, volumeId: 'vol-4', workers: 0 })],
    ['list', (vault: Vault) => listBackups(vault)],
  ] as const) {
    it(`${name}: a timeout StoreError (exit 1) within the call bound`, async () => {
      const r = await timedOut(run);
      expect(r.e, String(r.e)).toBeInstanceOf(StoreError);
      expect((r.e as StoreError).category).toBe('timeout');
      expect((r.e as StoreError).message).toMatch(/timed out/);
      expect(exitCodeFor(r.e)).toBe(1);
      // One call's bound (2 s), plus the cleanup bound (3 s) and slack for a loaded machine.
      expect(r.elapsed).toBeGreaterThanOrEqual(900);
      expect(r.elapsed).toBeLessThan(2000 + 3000 + 2000);
      // 3 attempts for the call that hung, and a lease release (get) after it at most.
      expect(r.requests).toBeLessThanOrEqual(6);
    });
  }
});
