// How close backup and restore into an S3 vault come to what the S3 server can take at all.
//
// For each run: back up a mixed image into a fresh s3://bucket/prefix vault, then PUT the very
// same object sizes (one object per stored chunk) with a plain loop of raw SDK PutObject calls,
// at the same concurrency, to the same server; then restore the backup to a file, and GET the
// same chunk objects with a plain loop. The ratios (engine time over loop time, as throughput
// fractions) are the medians over the runs. Client and server share this machine, so the loops
// are what this machine can do with S3 requests, not what a network could.
//
//   node dist/bench/s3-ratio.js [--size 1GiB] [--runs 3] [--concurrency N] [--block-size 4MiB]
//   env: S3_ENDPOINT (default http://127.0.0.1:7480), S3_ACCESS_KEY / S3_SECRET_KEY (testkey / testsecret)
//
// measureS3Ratios(opts) is the library form, for the main bench.
import { randomBytes, randomFillSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { backup, openVault, restore } from '../src/index.js';
import { makeMixedImage } from './inputs.js';
import { cpuBoundRatio, serverPids, timedWithCpu, type PhaseCpu } from './server-cpu.js';

export interface S3RatioOptions {
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Existing bucket to use (default: a new one, removed afterwards). */
  bucket?: string;
  /** Image size in bytes (default 1 GiB). */
  size?: number;
  /** An existing image to use instead of generating one. */
  image?: string;
  /** Vault block size (default 4 MiB). */
  blockSize?: number;
  runs?: number;
  /** Blocks / requests in flight for the engine and the loops (default: the S3 store's default). */
  concurrency?: number;
  workDir?: string;
  seed?: number;
  log?: (line: string) => void;
}

export interface S3RatioRun {
  storedBytes: number;
  objects: number;
  backupSeconds: number;
  putLoopSeconds: number;
  restoreSeconds: number;
  getLoopSeconds: number;
  /** CPU seconds of this process and of the server's local processes, per phase. */
  cpu: { backup: PhaseCpu; putLoop: PhaseCpu; restore: PhaseCpu; getLoop: PhaseCpu };
}

export interface S3RatioResult {
  endpoint: string;
  imageBytes: number;
  blockSize: number;
  concurrency: number;
  runs: S3RatioRun[];
  /** Medians. MB/s are 2^20 bytes per second; "stored" rates count the bytes sent or fetched. */
  median: {
    backupImageMBps: number;
    backupStoredMBps: number;
    putLoopMBps: number;
    /** backup stored-bytes throughput / PUT loop throughput (1 = as fast as a plain loop). */
    backupRatio: number;
    restoreImageMBps: number;
    restoreStoredMBps: number;
    getLoopMBps: number;
    restoreRatio: number;
    /** The ratios the machine's cores would allow at the CPU each phase spent (server-cpu.ts). */
    backupCpuBound: number;
    restoreCpuBound: number;
    /** Cores kept busy (client + server CPU over wall) by each phase. */
    busyCores: { backup: number; putLoop: number; restore: number; getLoop: number };
  };
  /** Server processes found on this machine (0: the server's CPU is not counted). */
  serverProcesses: number;
  cores: number;
}

const MB = 1024 * 1024;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

function rawClient(endpoint: string, accessKeyId: string, secretAccessKey: string, concurrency: number): S3Client {
  // The same client settings as S3Store (checksums only when required, path style, keep-alive).
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency + 8, maxFreeSockets: concurrency + 8 });
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: agent },
  });
}

async function deletePrefix(c: S3Client, bucket: string, prefix: string): Promise<void> {
  for (;;) {
    const r = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    const keys = (r.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (!keys.length) return;
    await c.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
}

/** Empties and removes a bucket the bench made (best effort: a bench must not fill the server). */
export async function removeBucket(opts: { endpoint: string; accessKeyId: string; secretAccessKey: string; bucket: string }): Promise<void> {
  const c = rawClient(opts.endpoint, opts.accessKeyId, opts.secretAccessKey, 4);
  try {
    await deletePrefix(c, opts.bucket, '');
    await c.send(new DeleteBucketCommand({ Bucket: opts.bucket }));
  } catch {
    /* best effort */
  } finally {
    c.destroy();
  }
}

async function listSizes(c: S3Client, bucket: string, prefix: string): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const r = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export async function measureS3Ratios(opts: S3RatioOptions = {}): Promise<S3RatioResult> {
  const endpoint = opts.endpoint ?? process.env.S3_ENDPOINT ?? 'http://127.0.0.1:7480';
  const accessKeyId = opts.accessKeyId ?? process.env.S3_ACCESS_KEY ?? 'testkey';
  const secretAccessKey = opts.secretAccessKey ?? process.env.S3_SECRET_KEY ?? 'testsecret';
  const blockSize = opts.blockSize ?? 4 * MB;
  const runs = opts.runs ?? 3;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const work = opts.workDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'bv-s3ratio-')));
  const ownWork = !opts.workDir;
  // The library takes credentials from the AWS chain.
  process.env.AWS_ACCESS_KEY_ID = accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = secretAccessKey;

  let image = opts.image;
  let imageBytes: number;
  if (!image) {
    image = path.join(work, 'mixed.img');
    const d = await makeMixedImage(image, { size: opts.size ?? 1024 * MB, seed: opts.seed ?? 7, blockSize });
    imageBytes = d.size;
    log(`image ${image}: ${(d.size / MB).toFixed(0)} MiB, ${(d.dataBytes / MB).toFixed(0)} MiB data, made in ${d.generateSeconds.toFixed(1)} s`);
  } else {
    imageBytes = (await fs.stat(image)).size;
  }

  const bucket = opts.bucket ?? `bv-s3ratio-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  let concurrency = opts.concurrency ?? 0;
  const probe = await openVault(`s3://${bucket}/probe`, { endpoint, createBucket: true, create: true, blockSize, indexCacheDir: 'off' });
  if (!concurrency) concurrency = probe.defaultConcurrency;
  await probe.close();
  const raw = rawClient(endpoint, accessKeyId, secretAccessKey, concurrency);
  const results: S3RatioRun[] = [];
  const pids = serverPids();
  const cores = os.availableParallelism();
  try {
    if (opts.bucket === undefined) await raw.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => {});
    for (let run = 0; run < runs; run++) {
      const prefix = `run-${run}-${randomBytes(3).toString('hex')}/`;
      const vaultUrl = `s3://${bucket}/${prefix}`;
      // A fresh vault and no index cache: the first backup of an image, as for a new volume.
      const vault = await openVault(vaultUrl, { endpoint, create: true, blockSize, indexCacheDir: 'off' });
      let storedBytes = 0;
      let backupId = '';
      const backupCpu = await timedWithCpu(pids, async () => {
        const b = await backup(vault, { source: image!, volumeId: 'bench', concurrency });
        storedBytes = b.newStoredBytes;
        backupId = b.backupId;
      });
      const chunks = await listSizes(raw, bucket, `${prefix}chunks/`);

      // The same object sizes, PUT by a plain loop at the same concurrency.
      const maxSize = Math.max(1, ...chunks.map((c) => c.size));
      const body = Buffer.allocUnsafe(maxSize);
      randomFillSync(body);
      const limit = pLimit(concurrency);
      const loopPrefix = `${prefix}putloop/`;
      const putLoopCpu = await timedWithCpu(pids, () =>
        Promise.all(
          chunks.map((c, i) =>
            limit(() => raw.send(new PutObjectCommand({ Bucket: bucket, Key: `${loopPrefix}${i}`, Body: body.subarray(0, c.size), ContentLength: c.size }))),
          ),
        ),
      );

      const out = path.join(work, `restore-${run}.img`);
      const restoreCpu = await timedWithCpu(pids, () => restore(vault, { backupId, target: out, concurrency }));
      await fs.rm(out, { force: true });
      await vault.close();

      const getLoopCpu = await timedWithCpu(pids, () =>
        Promise.all(
          chunks.map((c) =>
            limit(async () => {
              const r = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: c.key }));
              for await (const _ of r.Body as AsyncIterable<Uint8Array>) {
                /* drain */
              }
            }),
          ),
        ),
      );
      const [backupSeconds, putLoopSeconds, restoreSeconds, getLoopSeconds] = [backupCpu, putLoopCpu, restoreCpu, getLoopCpu].map((c) => c.seconds) as [number, number, number, number];
      const one: S3RatioRun = {
        storedBytes,
        objects: chunks.length,
        backupSeconds: r3(backupSeconds),
        putLoopSeconds: r3(putLoopSeconds),
        restoreSeconds: r3(restoreSeconds),
        getLoopSeconds: r3(getLoopSeconds),
        cpu: { backup: round(backupCpu), putLoop: round(putLoopCpu), restore: round(restoreCpu), getLoop: round(getLoopCpu) },
      };
      results.push(one);
      log(
        `run ${run + 1}/${runs}: ${chunks.length} objects, ${(storedBytes / MB).toFixed(0)} MiB stored; ` +
          `backup ${backupSeconds.toFixed(2)} s vs PUT loop ${putLoopSeconds.toFixed(2)} s; ` +
          `restore ${restoreSeconds.toFixed(2)} s vs GET loop ${getLoopSeconds.toFixed(2)} s; CPU-s client+server: ` +
          `backup ${cpuPair(backupCpu)}, PUT loop ${cpuPair(putLoopCpu)}, restore ${cpuPair(restoreCpu)}, GET loop ${cpuPair(getLoopCpu)}`,
      );
      await deletePrefix(raw, bucket, prefix);
    }
  } finally {
    if (opts.bucket === undefined) {
      await deletePrefix(raw, bucket, '').catch(() => {});
      await raw.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
    }
    raw.destroy();
    if (ownWork) await fs.rm(work, { recursive: true, force: true });
  }
  const med = (f: (r: S3RatioRun) => number) => median(results.map(f));
  return {
    endpoint,
    imageBytes,
    blockSize,
    concurrency,
    runs: results,
    median: {
      backupImageMBps: r1(med((r) => imageBytes / MB / r.backupSeconds)),
      backupStoredMBps: r1(med((r) => r.storedBytes / MB / r.backupSeconds)),
      putLoopMBps: r1(med((r) => r.storedBytes / MB / r.putLoopSeconds)),
      backupRatio: r3(med((r) => r.putLoopSeconds / r.backupSeconds)),
      restoreImageMBps: r1(med((r) => imageBytes / MB / r.restoreSeconds)),
      restoreStoredMBps: r1(med((r) => r.storedBytes / MB / r.restoreSeconds)),
      getLoopMBps: r1(med((r) => r.storedBytes / MB / r.getLoopSeconds)),
      restoreRatio: r3(med((r) => r.getLoopSeconds / r.restoreSeconds)),
      backupCpuBound: r3(med((r) => cpuBoundRatio(r.putLoopSeconds, r.cpu.backup, cores))),
      restoreCpuBound: r3(med((r) => cpuBoundRatio(r.getLoopSeconds, r.cpu.restore, cores))),
      busyCores: {
        backup: r3(med((r) => busy(r.cpu.backup))),
        putLoop: r3(med((r) => busy(r.cpu.putLoop))),
        restore: r3(med((r) => busy(r.cpu.restore))),
        getLoop: r3(med((r) => busy(r.cpu.getLoop))),
      },
    },
    serverProcesses: pids.length,
    cores,
  };
}

const round = (c: PhaseCpu): PhaseCpu => ({ seconds: r3(c.seconds), clientCpu: r3(c.clientCpu), serverCpu: r3(c.serverCpu) });
const busy = (c: PhaseCpu) => (c.clientCpu + c.serverCpu) / c.seconds;
const cpuPair = (c: PhaseCpu) => `${c.clientCpu.toFixed(2)}+${c.serverCpu.toFixed(2)}`;

function parseSizeArg(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`not a size: ${s}`);
  return Math.round(Number(m[1]) * ({ '': 1, k: 1024, m: MB, g: 1024 * MB } as Record<string, number>)[m[2]!.toLowerCase()]!);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const r = await measureS3Ratios({
    size: arg('size') ? parseSizeArg(arg('size')!) : undefined,
    blockSize: arg('block-size') ? parseSizeArg(arg('block-size')!) : undefined,
    runs: arg('runs') ? Number(arg('runs')) : undefined,
    concurrency: arg('concurrency') ? Number(arg('concurrency')) : undefined,
    image: arg('image'),
  });
  process.stdout.write(JSON.stringify(r, null, 1) + '\n');
}
