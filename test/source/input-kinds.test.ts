// Inputs other than regular files and block devices are refused at once (issue 9.6), and the
// input is checked before the lease: a FIFO never hangs a backup, a missing file never
// answers "busy" and creates nothing.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, openVault, preflightBackup, type BlockvaultError, type Vault } from '../../src/index.js';
import { exitCodeFor } from '../../src/errors.js';
import { openSource } from '../../src/source/block-device-source.js';
import { ImageFileSource } from '../../src/source/image-source.js';
import { LocalStore } from '../../src/store/local-store.js';
import { makeImage, tempDir } from '../helpers/images.js';

let dir: string;
let fifo: string;
let sock: string;
let server: net.Server;
let holder: ChildProcess;
const rejected = async (p: Promise<unknown>) => (await p.then(() => undefined, (e) => e)) as BlockvaultError | undefined;

beforeAll(async () => {
  dir = await tempDir('input-kinds');
  fifo = path.join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  sock = path.join(dir, 'sock');
  server = net.createServer();
  await new Promise<void>((r) => server.listen(sock, r));
  holder = spawn('sleep', ['60']);
});
afterAll(async () => {
  holder.kill('SIGKILL');
  await new Promise((r) => server.close(r));
  await fs.rm(dir, { recursive: true, force: true });
});

describe('input kinds', () => {
  const cases = () => [
    [fifo, /is a FIFO \(named pipe\), not an image file or block device/],
    [sock, /is a socket/],
    ['/dev/null', /is a character device/],
    ['/dev/zero', /is a character device/],
  ] as const;

  it('FIFOs, sockets and character devices are refused (exit 2) without opening or waiting', { timeout: 5000 }, async () => {
    for (const [p, re] of cases()) {
      const err = await rejected(openSource(p));
      expect(err?.code, p).toBe('BV.BadInput');
      expect(err?.message).toMatch(re);
      expect(exitCodeFor(err)).toBe(2);
    }
    // Opening the image source directly never blocks on a FIFO either (O_NONBLOCK).
    expect((await rejected(ImageFileSource.open(fifo)))?.message).toMatch(/FIFO/);
  });

  it('a backup of a FIFO or a missing file is bad input even while a live process holds the volume', { timeout: 10_000 }, async () => {
    const vaultDir = path.join(dir, 'vault');
    const vault: Vault = await openVault(vaultDir, { create: true, blockSize: 65536 });
    try {
      // A lease held by a live process on this host: a backup that took the lease first answers 0013.
      const lease = {
        leaseId: 'held',
        scope: 'vol-1',
        op: 'backup',
        host: os.hostname(),
        pid: holder.pid,
        acquiredAt: new Date().toISOString(),
        expiresAt: new Date(Date.now() + 600_000).toISOString(),
      };
      const raw = await LocalStore.open(vaultDir);
      await raw.put('leases/vol-1.json', Buffer.from(JSON.stringify(lease)));
      for (const source of [fifo, '/dev/zero', path.join(dir, 'missing.img')]) {
        const err = await rejected(backup(vault, { source, volumeId: 'vol-1' }));
        expect(err?.code, `${source}: ${err?.message}`).toBe('BV.BadInput');
      }
      // the control: a real image does meet the lease
      const img = path.join(dir, 'real.img');
      await makeImage(img, { blockSize: 65536, blocks: ['text'], seed: 2 });
      expect((await rejected(backup(vault, { source: img, volumeId: 'vol-1' })))?.code).toBe('VolumeBackup.0013');
    } finally {
      await vault.close();
    }
  });

  it('preflightBackup (what a caller runs before it opens or creates a vault) refuses the same inputs and bad ids', async () => {
    for (const opts of [
      { source: path.join(dir, 'missing.img'), volumeId: 'vol-1' },
      { source: fifo, volumeId: 'vol-1' },
      { source: '/dev/null', volumeId: 'vol-1', backupId: 'x' },
      { source: fifo, volumeId: 'a/b' },
    ]) {
      const err = await rejected(preflightBackup(opts));
      expect(err?.code).toBe('BV.BadInput');
    }
  });
});
