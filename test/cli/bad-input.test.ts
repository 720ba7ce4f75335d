// The CLI side of the reliability fixes: bad input exits 2 and creates nothing, a lost config
// is repaired by a command, a retried delete is idempotent when asked to be.
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeImage, sha256File, tempDir } from '../helpers/images.js';

describe('CLI bad input and recovery', () => {
  it('a FIFO, /dev/null or a bad backup id is refused with exit 2 and no vault is created', async () => {
    const dir = await tempDir('cli-bad-input');
    const fifo = path.join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const vault = path.join(dir, 'vault');
    const fifoRun = await runCli(['backup', fifo, '--vault', vault, '--volume', 'v', '--json']);
    expect(fifoRun.code).toBe(2);
    expect(fifoRun.events.at(-1)).toMatchObject({ event: 'error', code: 'BV.BadInput' });
    expect(fifoRun.stderr).toMatch(/FIFO/);
    const charDev = await runCli(['backup', '/dev/null', '--vault', vault, '--volume', 'v']);
    expect(charDev.code).toBe(2);
    const img = path.join(dir, 'disk.img');
    await makeImage(img, { blocks: ['random'], blockSize: 1 << 20, seed: 3 });
    for (const id of ['..', 'a/b', 'x.bvm', '', 'é']) {
      const r = await runCli(['backup', img, '--vault', vault, '--volume', 'v', '--backup-id', id]);
      expect(r.code, `backup id ${JSON.stringify(id)}`).toBe(2);
    }
    expect(existsSync(vault)).toBe(false);
  });

  it('repair-config puts a lost config back and every backup restores', async () => {
    const dir = await tempDir('cli-repair');
    const img = path.join(dir, 'disk.img');
    await makeImage(img, { blocks: ['text', 'random', 'text'], blockSize: 1 << 20, seed: 9 });
    const vault = path.join(dir, 'vault');
    const b = await runCli(['backup', img, '--vault', vault, '--volume', 'v', '--json']);
    expect(b.code).toBe(0);
    const id = b.events.at(-1)!.backupId as string;
    await fs.rm(path.join(vault, 'config'));
    const refused = await runCli(['backup', img, '--vault', vault, '--volume', 'v']);
    expect(refused.code).toBe(3);
    expect(existsSync(path.join(vault, 'config'))).toBe(false);
    const repaired = await runCli(['repair-config', '--vault', vault, '--json']);
    expect(repaired.code).toBe(0);
    expect(repaired.events.at(-1)).toMatchObject({ repaired: true });
    const out = path.join(dir, 'out.img');
    expect((await runCli(['restore', id, out, '--vault', vault])).code).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(img));
  });

  it('delete --if-exists of a backup already gone succeeds; without it the answer is 0111', async () => {
    const dir = await tempDir('cli-delete-idem');
    const vault = path.join(dir, 'vault');
    expect((await runCli(['init', '--vault', vault])).code).toBe(0);
    const gone = '7d3c1f7e-0000-4000-8000-000000000000';
    const idem = await runCli(['delete', gone, '--if-exists', '--vault', vault, '--json']);
    expect(idem.code).toBe(0);
    expect(idem.events.at(-1)).toMatchObject({ alreadyGone: true });
    const strict = await runCli(['delete', gone, '--vault', vault, '--json']);
    expect(strict.code).toBe(2);
    expect(strict.events.at(-1)).toMatchObject({ code: 'VolumeBackup.0111' });
  });
});

describe('init of a vault that exists', () => {
  it('is refused with exit 2 naming the vault; the vault is left as it was', async () => {
    const dir = await tempDir('cli-init-twice');
    const vault = path.join(dir, 'vault');
    const made = await runCli(['init', '--vault', vault, '--block-size', '64KiB', '--json']);
    expect(made.code, made.stderr).toBe(0);
    const config = await fs.readFile(path.join(vault, 'config'));
    const again = await runCli(['init', '--vault', vault, '--block-size', '1MiB', '--json']);
    expect(again.code).toBe(2);
    expect(again.events.at(-1)).toMatchObject({ event: 'error', code: 'BV.BadInput' });
    expect(again.stderr).toMatch(/a vault already exists at .*vault \(block size 64\.0 KiB\)/);
    expect(await fs.readFile(path.join(vault, 'config'))).toEqual(config);
    await fs.rm(dir, { recursive: true, force: true });
  });
});
