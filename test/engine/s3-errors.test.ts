// What only a shared, remote vault meets: bad credentials, a missing bucket, a volume lease
// held by another process, two writers of one manifest, and a second engine instance writing
// while the first reads. Through the built CLI (dist/) where a user would meet it, and
// through the library for the races. Needs a real S3 server (test/helpers/s3-server.ts).
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, listBackups, openVault, restore } from '../../src/index.js';
import { finish, ROOT, runCli, waitForLine } from '../helpers/cli.js';
import { makeImage, sha256File, tempDir, type Kind } from '../helpers/images.js';
import { createTestBucket, getS3Endpoint, removeBucket, stopS3Server, uniqueBucketName, type S3Endpoint } from '../helpers/s3-server.js';

const target = await getS3Endpoint();
const skip = 'skip' in target ? target.skip : undefined;
if (skip) console.warn(`[s3-errors.test] skipped: ${skip}`);
const s3 = target as S3Endpoint;
const BS = 64 * 1024;

let dir = '';
let bucket = '';
const extraBuckets: string[] = [];
let env: NodeJS.ProcessEnv = {};

beforeAll(async () => {
  if (skip) return;
  dir = await tempDir('s3err');
  env = {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    BLOCKVAULT_CACHE_DIR: path.join(dir, 'cache'),
  };
  Object.assign(process.env, env);
  bucket = await createTestBucket(s3, 's3-errors');
});
afterAll(async () => {
  if (skip) return;
  for (const b of [bucket, ...extraBuckets]) await removeBucket(s3, b);
  await stopS3Server();
  await fs.rm(dir, { recursive: true, force: true });
});

const url = (name: string) => `s3://${bucket}/${name}`;

async function image(name: string, seed: number, n = 6): Promise<string> {
  const img = path.join(dir, `${name}.img`);
  const kinds: Kind[] = ['random', 'text', 'hole'];
  await makeImage(img, { blocks: Array.from({ length: n }, (_, i) => kinds[i % 3]!), blockSize: BS, seed });
  return img;
}

/** Runs an ES module snippet in a child Node process, with the built library importable as `bv`. */
function nodeScript(code: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const prelude = `const bv = await import(${JSON.stringify(path.join(ROOT, 'dist/src/index.js'))});
const lease = await import(${JSON.stringify(path.join(ROOT, 'dist/src/vault/lease.js'))});\n`;
  return spawn(process.execPath, ['--input-type=module', '-e', prelude + code], {
    env: { ...process.env, ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe.skipIf(!!skip)('S3 vault errors through the CLI', () => {
  it('a wrong secret key fails with a clear error naming endpoint and bucket, and a non-zero exit', async () => {
    const r = await runCli(['list', '--vault', url('auth')], { env: { ...env, AWS_SECRET_ACCESS_KEY: 'not-the-secret' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(s3.endpoint);
    expect(r.stderr).toContain(bucket);
    expect(r.stderr).toMatch(/rejected the credentials/);
    expect(r.stderr).toMatch(/SignatureDoesNotMatch|InvalidAccessKeyId/);
    const j = await runCli(['list', '--vault', url('auth'), '--json'], { env: { ...env, AWS_SECRET_ACCESS_KEY: 'nope' } });
    expect(j.code).toBe(r.code);
    const ev = j.events.find((e) => e.event === 'error')!;
    expect(ev.code).toBe('BV.Store');
    expect(ev.endpoint).toBe(s3.endpoint);
    expect(ev.bucket).toBe(bucket);
  });

  it('a missing bucket fails with the --create-bucket hint, and --create-bucket creates it', async () => {
    const missing = uniqueBucketName('missing');
    extraBuckets.push(missing);
    const img = await image('nobucket', 1);
    const args = ['backup', img, '--vault', `s3://${missing}/vault`, '--volume', 'v1', '--block-size', '64KiB', '--json'];
    const r = await runCli(args, { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`bucket ${missing} does not exist at ${s3.endpoint}`);
    expect(r.stderr).toContain('--create-bucket');
    const ok = await runCli([...args, '--create-bucket'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    const res = ok.events.find((e) => e.event === 'result')!;
    const out = path.join(dir, 'nobucket.out');
    const rr = await runCli(['restore', res.backupId, out, '--vault', `s3://${missing}/vault`], { env });
    expect(rr.code).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(img));
  });

  it('a lease held by another process makes a CLI backup fail with VolumeBackup.0013 (exit 75) until it expires', async () => {
    const vaultUrl = url('lease');
    const img = await image('lease', 2);
    // the vault exists before the holder opens it
    expect((await runCli(['init', '--vault', vaultUrl, '--block-size', '64KiB'], { env })).code).toBe(0);
    const holder = nodeScript(
      `const v = await bv.openVault(process.env.VAULT_URL);
const l = await v.lease('held', 'backup', { ttlMs: 3000 });
console.log('HELD ' + JSON.stringify(l.record));
setInterval(() => {}, 1000);`,
      { VAULT_URL: vaultUrl },
    );
    const done = finish(holder);
    try {
      const line = await waitForLine(holder, /^HELD /);
      const rec = JSON.parse(line.slice(5));
      expect(rec.pid).toBe(holder.pid);
      const busy = await runCli(['backup', img, '--vault', vaultUrl, '--volume', 'held', '--json'], { env });
      expect(busy.code).toBe(75);
      const ev = busy.events.find((e) => e.event === 'error')!;
      expect(ev.code).toBe('VolumeBackup.0013');
      expect(busy.stderr).toContain(`pid ${holder.pid}`);
      // The holder hangs (stopped: alive, but it renews no more); once its lease expires a backup takes over.
      holder.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 3500));
      const ok = await runCli(['backup', img, '--vault', vaultUrl, '--volume', 'held', '--json'], { env });
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      holder.kill('SIGKILL');
      await done;
    }
  });

  it('a stale lease record from another host (expiresAt in the past) is taken over', async () => {
    const vaultUrl = url('stale');
    const img = await image('stale', 3);
    const v = await openVault(vaultUrl, { create: true, blockSize: BS });
    const past = new Date(Date.now() - 60_000).toISOString();
    await v.meta.put(
      'leases/stale-vol.json',
      Buffer.from(JSON.stringify({ leaseId: 'dead-1', scope: 'stale-vol', op: 'backup', host: 'some-other-host', pid: 4242, acquiredAt: past, expiresAt: past })),
    );
    await v.close();
    const ok = await runCli(['backup', img, '--vault', vaultUrl, '--volume', 'stale-vol', '--json'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    const v2 = await openVault(vaultUrl);
    const left: string[] = [];
    for await (const o of v2.meta.list('leases/')) left.push(o.key);
    expect(left).toEqual([]); // released, takeover marker removed
    await v2.close();
  });
});

describe.skipIf(!!skip)('two engine instances on one S3 vault', () => {
  it('of two writers of one backup id, the second gets "already exists" and the first manifest stays intact', async () => {
    const vaultUrl = url('cond');
    const img1 = await image('cond1', 4);
    const img2 = await image('cond2', 5);
    const a = await openVault(vaultUrl, { create: true, blockSize: BS });
    const b = await openVault(vaultUrl);
    try {
      const first = await backup(a, { source: img1, volumeId: 'cw', backupId: 'same-id' });
      const err = await backup(b, { source: img2, volumeId: 'cw', backupId: 'same-id' }).catch((e) => e);
      expect(err.message).toMatch(/backup same-id already exists in s3:\/\//);
      const out = path.join(dir, 'cond.out');
      await restore(b, { backupId: 'same-id', target: out });
      expect(await sha256File(out)).toBe(await sha256File(img1));
      expect((await listBackups(b, { volumeId: 'cw' })).map((x) => x.backupId)).toEqual([first.backupId]);

      // A true race on the manifest's conditional PUT: exactly one of two writers wins.
      const base = await a.header('same-id');
      const mk = (snap: string) => ({ ...base, backupId: 'race-id', parentId: null, snapshotId: snap, entryCount: 0 });
      const results = await Promise.allSettled([a.writeManifest(mk('from-a'), []), b.writeManifest(mk('from-b'), [])]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.reason.message).toMatch(/already exists/);
      const winner = results[0]!.status === 'fulfilled' ? 'from-a' : 'from-b';
      const c = await openVault(vaultUrl);
      expect((await c.readManifest('race-id')).header.snapshotId).toBe(winner);
      await c.close();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('restores bit-exact a backup that another process wrote while this instance was working', async () => {
    const vaultUrl = url('shared');
    const mine = await image('shared-mine', 6, 60);
    const theirs = await image('shared-theirs', 7, 60);
    const v = await openVault(vaultUrl, { create: true, blockSize: BS });
    try {
      expect(await listBackups(v)).toEqual([]); // this instance has seen an empty vault
      // Another engine instance (its own process and openVault), at the same time as ours.
      const other = runCli(['backup', theirs, '--vault', vaultUrl, '--volume', 'theirs', '--json'], { env });
      const own = await backup(v, { source: mine, volumeId: 'mine' });
      const r = await other;
      expect(r.code, r.stderr).toBe(0);
      const theirId = r.events.find((e) => e.event === 'result')!.backupId as string;
      const listed = await listBackups(v);
      expect(listed.map((b) => b.backupId).sort()).toEqual([own.backupId, theirId].sort());
      const out = path.join(dir, 'shared-theirs.out');
      await restore(v, { backupId: theirId, target: out });
      expect(await sha256File(out)).toBe(await sha256File(theirs));
      const out2 = path.join(dir, 'shared-mine.out');
      await restore(v, { backupId: own.backupId, target: out2 });
      expect(await sha256File(out2)).toBe(await sha256File(mine));
    } finally {
      await v.close();
    }
  });
});
