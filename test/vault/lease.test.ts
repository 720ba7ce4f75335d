// Leases that must never wedge a volume (issue 9.5, 9.6): a takeover marker left by a crash,
// a zombie or dead pid, and a lease object that is not a lease.
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockvaultError } from '../../src/errors.js';
import { LocalStore } from '../../src/store/local-store.js';
import { acquireLease, processAlive } from '../../src/vault/lease.js';
import { tempDir } from '../helpers/images.js';

let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await tempDir('lease-edges');
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await fs.rm(dir, { recursive: true, force: true });
});

const staleRecord = (leaseId: string, over: Record<string, unknown> = {}) => ({
  leaseId,
  scope: 'vol-1',
  op: 'backup',
  host: 'some-other-host',
  pid: 4242,
  acquiredAt: new Date(Date.now() - 600_000).toISOString(),
  expiresAt: new Date(Date.now() - 300_000).toISOString(),
  ...over,
});

/** A pid that is certainly not running: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => c.on('exit', r));
  return c.pid!;
}

/** A zombie: `sleep 0.3` started in the background by a shell that then execs `sleep 30`,
 *  which never waits for it. The child outlives the exec (a child that exited first could be
 *  reaped by the shell itself, as seen once under load). Resolves with the zombie's pid once
 *  /proc shows state Z. */
async function zombiePid(): Promise<number> {
  const c = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(c);
  const pid = Number(await new Promise<string>((r) => c.stdout!.once('data', (d) => r(String(d).trim()))));
  for (let i = 0; i < 250; i++) {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (/\) Z /.test(stat)) return pid;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`pid ${pid} did not become a zombie`);
}

async function store(name: string): Promise<LocalStore> {
  return LocalStore.open(path.join(dir, name), { create: true });
}

describe('lease takeover', () => {
  it('a takeover marker whose taker died is itself taken over (JSON marker, dead pid)', async () => {
    const s = await store('wedged-json');
    await s.put('leases/vol-1.json', Buffer.from(JSON.stringify(staleRecord('old-lease'))));
    const marker = { leaseId: 'taker', host: os.hostname(), pid: await deadPid(), expiresAt: new Date(Date.now() + 600_000).toISOString() };
    await s.put('leases/vol-1.takeover-old-lease', Buffer.from(JSON.stringify(marker)));
    const lease = await acquireLease(s, 'vol-1', 'backup');
    expect(lease.record.pid).toBe(process.pid);
    const keys: string[] = [];
    for await (const o of s.list('leases/')) keys.push(o.key);
    expect(keys).toEqual(['leases/vol-1.json']);
    await lease.release();
  });

  it('a marker of the older kind (the taker id only) older than the lease TTL is taken over', async () => {
    const s = await store('wedged-legacy');
    await s.put('leases/vol-1.json', Buffer.from(JSON.stringify(staleRecord('old-lease'))));
    await s.put('leases/vol-1.takeover-old-lease', Buffer.from('a-taker-lease-id'));
    const file = path.join(s.root, 'leases/vol-1.takeover-old-lease');
    const old = new Date(Date.now() - 10 * 60_000);
    await fs.utimes(file, old, old);
    const lease = await acquireLease(s, 'vol-1', 'delete');
    expect(lease.record.op).toBe('delete');
    await lease.release();
  });

  it('a live takeover (its taker runs, its time not passed) is respected: busy, not stolen', async () => {
    const s = await store('live-taker');
    await s.put('leases/vol-1.json', Buffer.from(JSON.stringify(staleRecord('old-lease'))));
    const marker = { leaseId: 'taker', host: 'other-host', pid: 1, expiresAt: new Date(Date.now() + 600_000).toISOString() };
    await s.put('leases/vol-1.takeover-old-lease', Buffer.from(JSON.stringify(marker)));
    const err = await acquireLease(s, 'vol-1', 'backup').catch((e) => e as BlockvaultError);
    expect(err).toBeInstanceOf(BlockvaultError);
    expect((err as BlockvaultError).code).toBe('VolumeBackup.0013');
  });
});

describe('lease holders that are gone', () => {
  it('a zombie pid holds no lease; a live pid on this host does', async () => {
    const zombie = await zombiePid();
    expect(processAlive(zombie)).toBe(false);
    const s = await store('zombie');
    const fresh = { host: os.hostname(), expiresAt: new Date(Date.now() + 600_000).toISOString() };
    await s.put('leases/vol-z.json', Buffer.from(JSON.stringify(staleRecord('zombie-lease', { ...fresh, pid: zombie }))));
    const lease = await acquireLease(s, 'vol-z', 'backup');
    expect(lease.record.pid).toBe(process.pid);
    await lease.release();

    const live = spawn('sleep', ['30']);
    children.push(live);
    expect(processAlive(live.pid!)).toBe(true);
    await s.put('leases/vol-l.json', Buffer.from(JSON.stringify(staleRecord('live-lease', { ...fresh, pid: live.pid }))));
    const err = await acquireLease(s, 'vol-l', 'backup').catch((e) => e as BlockvaultError);
    expect((err as BlockvaultError).code).toBe('VolumeBackup.0013');
  });

  it('a dead pid on this host holds no lease, even before its expiry', async () => {
    const s = await store('dead');
    const rec = staleRecord('dead-lease', { host: os.hostname(), pid: await deadPid(), expiresAt: new Date(Date.now() + 600_000).toISOString() });
    await s.put('leases/vol-d.json', Buffer.from(JSON.stringify(rec)));
    const lease = await acquireLease(s, 'vol-d', 'restore');
    await lease.release();
  });
});

describe('lease records are checked', () => {
  it('an object that is not a lease is refused with its key, not guessed at', async () => {
    const s = await store('bad-record');
    await s.put('leases/vol-b.json', Buffer.from(JSON.stringify({ leaseId: 'x', op: 'dance', pid: 'one' })));
    const err = (await acquireLease(s, 'vol-b', 'backup').catch((e) => e)) as BlockvaultError;
    expect(err.code).toBe('BV.VaultDamaged');
    expect(err.message).toMatch(/lease leases\/vol-b\.json is not valid/);
    expect(err.details.object).toBe('leases/vol-b.json');
    await s.put('leases/vol-c.json', Buffer.from('{torn'));
    const torn = (await acquireLease(s, 'vol-c', 'backup').catch((e) => e)) as BlockvaultError;
    expect(torn.message).toMatch(/lease leases\/vol-c\.json is not valid JSON/);
  });
});
