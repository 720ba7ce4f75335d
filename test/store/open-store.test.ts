// Locations and options: the scheme registry refuses what it cannot open (never a local
// directory by accident), options are typed per kind (S3 credentials included, under
// tsc --strict), rate limits wrap any store, and the library prints nothing of the SDK's.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { openVault, type OpenVaultOptions } from '../../src/index.js';
import { LocalStore } from '../../src/store/local-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { StoreError } from '../../src/store/object-store.js';
import { openStore, type StoreOptions } from '../../src/store/open-store.js';
import { RateLimitedStore } from '../../src/store/rate-limit.js';
import { ROOT } from '../helpers/cli.js';
import { createTestBucket, getS3Endpoint, removeBucket, type S3Endpoint } from '../helpers/s3-server.js';

const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bv-open-store-'));
afterAll(() => fs.rm(root, { recursive: true, force: true }));

async function refusal(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    return e as StoreError;
  }
  throw new Error('expected a refusal');
}

describe('vault locations', () => {
  it('refuses malformed and unknown locations with a clear bad-input error, and creates nothing', async () => {
    const cwd = process.cwd();
    const dir = path.join(root, 'cwd');
    await fs.mkdir(dir);
    process.chdir(dir);
    try {
      for (const bad of ['s3:/bucket', 's3:bucket', 's3://', 's3:///prefix', 'foo://x', 'ftp://host/dir', 'mem://', 'mem://a/b', '', 'vault:2024']) {
        const err = await refusal(openStore(bad, { create: true }));
        expect(err, bad).toBeInstanceOf(StoreError);
        expect(err.code, bad).toBe(ErrorCodes.badInput);
        expect(err.retryable, bad).toBe(false);
        expect(err.hint, bad).toBeTruthy();
      }
      expect((await refusal(openStore('foo://x'))).message).toMatch(/unknown vault location scheme "foo:"/);
      expect((await refusal(openStore('s3:/bucket'))).message).toMatch(/must start with s3:\/\//);
      expect((await refusal(openStore('s3://'))).message).toMatch(/no bucket name/);
      expect(await fs.readdir(dir)).toEqual([]); // no "s3:" directory, nothing at all
    } finally {
      process.chdir(cwd);
    }
  });

  it('opens plain paths, file: URLs and mem:// names', async () => {
    const a = await openStore(path.join(root, 'plain'), { create: true });
    expect(a).toBeInstanceOf(LocalStore);
    const b = await openStore(pathToFileURL(path.join(root, 'plain')).href);
    expect(b.url).toBe(a.url);
    await a.put('k', Buffer.from('v'));
    expect((await b.get('k')).toString()).toBe('v');
    expect(await openStore('mem://open-test')).toBeInstanceOf(MemoryStore);
    MemoryStore.drop('open-test');
  });

  it('a missing directory is notFound unless create is given', async () => {
    const err = await refusal(openStore(path.join(root, 'absent')));
    expect(err.category).toBe('notFound');
    expect(err.code).toBe(ErrorCodes.notFound);
  });
});

describe('rate limits', () => {
  it('limitUploadBytesPerSec and limitDownloadBytesPerSec wrap any store and hold the average rate', async () => {
    const opts: StoreOptions = { limitUploadBytesPerSec: 2 * 1024 * 1024, limitDownloadBytesPerSec: 4 * 1024 * 1024 };
    const s = await openStore('mem://rate', opts);
    expect(s).toBeInstanceOf(RateLimitedStore);
    const piece = Buffer.alloc(256 * 1024, 7);
    // 4 MiB up at 2 MiB/s: at least 1.5 s (the burst is an eighth of a second)
    let t = performance.now();
    for (let i = 0; i < 16; i++) await s.put(`p${i}`, piece);
    expect(performance.now() - t).toBeGreaterThanOrEqual(1_500);
    // 8 MiB down at 4 MiB/s: at least 1.5 s too, whole objects and ranges alike
    t = performance.now();
    for (let i = 0; i < 16; i++) await s.get(`p${i}`);
    for (let i = 0; i < 16; i++) await s.getRange(`p${i}`, 0, piece.length);
    expect(performance.now() - t).toBeGreaterThanOrEqual(1_500);
    // without limits, the same store is not wrapped
    expect(await openStore('mem://rate')).toBeInstanceOf(MemoryStore);
    MemoryStore.drop('rate');
  });

  it('a wait for tokens ends with an aborted signal', async () => {
    const s = await openStore('mem://rate-abort', { limitUploadBytesPerSec: 1024 });
    await s.put('a', Buffer.alloc(1024)); // now in debt for ~1 s
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop')), 100);
    const t = performance.now();
    const err = await refusal(s.put('b', Buffer.alloc(1024), { signal: ac.signal }));
    expect(err.code).toBe(ErrorCodes.aborted);
    expect(performance.now() - t).toBeLessThan(900);
    MemoryStore.drop('rate-abort');
  });
});

const target = await getS3Endpoint();
const skip = 'skip' in target ? target.skip : undefined;
const s3 = target as S3Endpoint;

describe.skipIf(!!skip)('S3 vaults opened by a library caller', () => {
  let bucket = '';
  afterAll(async () => {
    if (bucket) await removeBucket(s3, bucket);
  });

  it('opens an S3 vault with explicit credentials in the typed options, with none in the environment, and prints nothing', async () => {
    bucket = await createTestBucket(s3, 'open-creds');
    // Type-checked as a library user would write it (tsc --strict over test/store).
    const opts: OpenVaultOptions = {
      create: true,
      indexCacheDir: 'off',
      store: { s3: { endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: 'us-east-1', concurrency: 8 } },
    };
    const code = `const bv = await import(${JSON.stringify(path.join(ROOT, 'dist/src/index.js'))});
const v = await bv.openVault(process.env.VAULT_URL, JSON.parse(process.env.VAULT_OPTS));
const list = await bv.listBackups(v);
await v.close();
const v2 = await bv.openVault(process.env.VAULT_URL, JSON.parse(process.env.VAULT_OPTS));
await v2.close();
if (list.length !== 0) process.exitCode = 4;
if (process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED !== undefined) process.exitCode = 5;`;
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: root, VAULT_URL: `s3://${bucket}/v`, VAULT_OPTS: JSON.stringify(opts) };
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exit = await new Promise<number | null>((r) => child.on('close', r));
    expect(out).toBe(''); // no NodeVersionSupportWarning, no SDK logging
    expect(exit).toBe(0);
    // and in this process, through the typed options
    const v = await openVault(`s3://${bucket}/v`, opts);
    expect(v.url).toBe(`s3://${bucket}/v/`);
    await v.close();
  });
});
