// The store option group on the command line (--limit-upload, --limit-download, --s3-concurrency,
// --s3-timeout): on every command that opens a vault, refused when malformed, and reaching the
// store — shown by a lower bound on a limited transfer, the peak of requests in flight counted
// at a real proxy in front of Ceph RGW, and a silent server given up on within the timeout.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startHangingServer } from '../helpers/fault-proxy.js';
import { makeImage, sha256File, tempDir } from '../helpers/images.js';
import { createTestBucket, getS3Endpoint, removeBucket, stopS3Server, type S3Endpoint } from '../helpers/s3-server.js';

let dir: string;
let img: string;
const MiB = 1024 * 1024;

beforeAll(async () => {
  dir = await tempDir('cli-store-opts');
  img = path.join(dir, 'disk.img');
  // 4 MiB of random data: nothing compresses, nothing is zero
  await makeImage(img, { blocks: Array.from({ length: 64 }, () => 'random' as const), blockSize: 64 * 1024, seed: 5 });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('store options', () => {
  it('every command that opens a vault lists them in its --help', async () => {
    const commands = ['init', 'backup', 'restore', 'list', 'show', 'delete', 'prune', 'gc', 'verify', 'stats', 'copy', 'export', 'import', 'locks', 'locks break', 'repair-config', 'cache clear', 'jobs', 'job show', 'serve', 'key list', 'key add', 'key remove'];
    for (const c of commands) {
      const h = await runCli([...c.split(' '), '--help'], { env: { COLUMNS: '200' } });
      expect(h.code, c).toBe(0);
      for (const flag of ['--limit-upload <rate>', '--limit-download <rate>', '--s3-concurrency <n>', '--s3-timeout <duration>']) expect(h.stdout, `${c} ${flag}`).toContain(flag);
    }
  });

  it('malformed values exit 2 naming the flag, and create nothing', async () => {
    const v = path.join(dir, 'never');
    for (const [flag, value] of [['--limit-upload', 'fast'], ['--limit-upload', '0'], ['--limit-download', '-5MiB'], ['--s3-concurrency', '0'], ['--s3-timeout', '5x'], ['--s3-timeout', '0s']]) {
      const r = await runCli(['backup', img, '--vault', v, '--volume', 'x', flag!, value!]);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.stderr).toContain(flag);
    }
    await expect(fs.stat(v)).rejects.toThrow();
  });

  it('--limit-upload 2MiB: a 4 MiB backup takes at least 1.5 s; --limit-download 2MiB: so does its restore', async () => {
    const v = path.join(dir, 'limited');
    let t = performance.now();
    const b = await runCli(['backup', img, '--vault', v, '--volume', 'lim', '--block-size', '64KiB', '--limit-upload', '2MiB', '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.events.at(-1)!.counters.bytesWritten).toBeGreaterThanOrEqual(4 * MiB);
    expect(performance.now() - t).toBeGreaterThanOrEqual(1500);
    const out = path.join(dir, 'limited.img');
    t = performance.now();
    const r = await runCli(['restore', b.events.at(-1)!.backupId, out, '--vault', v, '--limit-download', '2MiB/s']);
    expect(r.code, r.stderr).toBe(0);
    expect(performance.now() - t).toBeGreaterThanOrEqual(1500);
    expect(await sha256File(out)).toBe(await sha256File(img));
  });

  it('--s3-timeout 1s: a server that accepts and never answers fails the command within seconds, not minutes', async () => {
    const server = await startHangingServer();
    try {
      const t = performance.now();
      const r = await runCli(['list', '--vault', 's3://silent/p', '--endpoint', server.endpoint, '--s3-timeout', '1s', '--json'], {
        env: { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'us-east-1' },
      });
      // the default gives a first attempt 30 s before its first byte, a call 120 s
      expect(performance.now() - t).toBeLessThan(25_000);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/time|timed out/i);
      expect(server.connections()).toBeGreaterThanOrEqual(1);
    } finally {
      await server.close();
    }
  });
});

const s3target = await getS3Endpoint();
const s3skip = 'skip' in s3target ? s3target.skip : undefined;
if (s3skip) console.warn(`[cli/store-options.test] S3 part skipped: ${s3skip}`);

/** A plain forwarding proxy that counts the requests in flight at once (and slows PUTs a little
 *  so that overlapping requests overlap for sure). */
async function countingProxy(upstream: string) {
  const up = new URL(upstream);
  let inFlight = 0;
  let peak = 0;
  const server = http.createServer((req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    const done = () => {
      inFlight--;
    };
    res.on('close', done);
    const forward = () => {
      const p = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      p.on('error', () => res.destroy());
      req.pipe(p);
    };
    if (req.method === 'PUT') setTimeout(forward, 50);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    peak: () => peak,
    reset: () => (peak = 0),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe.skipIf(!!s3skip)('--s3-concurrency on Ceph RGW', () => {
  const s3 = s3target as S3Endpoint;
  let bucket = '';
  beforeAll(async () => {
    bucket = await createTestBucket(s3, 'cli-s3-conc');
  });
  afterAll(async () => {
    await removeBucket(s3, bucket);
    await stopS3Server();
  });

  it('caps the requests in flight at the server: 2 with --s3-concurrency 2, more without', async () => {
    const proxy = await countingProxy(s3.endpoint);
    const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: 'us-east-1', BLOCKVAULT_CACHE_DIR: path.join(dir, 'cache') };
    try {
      const common = ['--endpoint', proxy.endpoint, '--volume', 'c', '--block-size', '64KiB', '--concurrency', '8', '--full', '--json'];
      const capped = await runCli(['backup', img, '--vault', `s3://${bucket}/capped`, ...common, '--s3-concurrency', '2'], { env });
      expect(capped.code, capped.stderr).toBe(0);
      expect(proxy.peak()).toBeLessThanOrEqual(2);
      expect(proxy.peak()).toBeGreaterThanOrEqual(1);
      proxy.reset();
      const free = await runCli(['backup', img, '--vault', `s3://${bucket}/free`, ...common], { env });
      expect(free.code, free.stderr).toBe(0);
      expect(proxy.peak()).toBeGreaterThan(2); // the count would have seen more
    } finally {
      await proxy.close();
    }
  });
});
