// copy and export of encrypted backups from the command line, each step its own process:
// encrypted → another encrypted vault restores bit-exact from the copy; into a vault without
// encryption exit 2 unless --allow-unencrypted-destination; export of an encrypted backup exit 2.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { makeImage, sha256File, tempDir } from '../helpers/images.js';

const NO_ENV_KEYS = { BLOCKVAULT_PASSWORD: '', BLOCKVAULT_PASSWORD_FILE: '', BLOCKVAULT_KEY_FILE: '' };
let dir = '';
let img = '';
let pw = '';

async function ok(args: string[]): Promise<CliRun> {
  const r = await runCli(args, { env: NO_ENV_KEYS });
  expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r;
}

beforeAll(async () => {
  dir = await tempDir('copy-enc-cli');
  img = path.join(dir, 'disk.img');
  await makeImage(img, { blocks: ['text', 'random', 'hole', 'random'], blockSize: 64 * 1024, seed: 23 });
  pw = path.join(dir, 'pw');
  await fs.writeFile(pw, 'staple battery horse\n');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('copy of encrypted backups (CLI)', () => {
  it('re-encrypts into another encrypted vault, refuses a plain one without the flag, and export refuses', async () => {
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    const plain = path.join(dir, 'plain');
    await ok(['init', '--vault', src, '--encrypt', '--password-file', pw, '--block-size', '64KiB']);
    await ok(['init', '--vault', dst, '--encrypt', '--password-file', pw, '--block-size', '64KiB']);
    const b = (await ok(['backup', img, '--vault', src, '--volume', 'v', '--password-file', pw, '--json'])).events.at(-1)!;
    const c = (await ok(['copy', '--from', src, '--to', dst, '--all', '--password-file', pw, '--json'])).events.at(-1)!;
    expect(c).toMatchObject({ mode: 'reidentify', copied: [b.backupId] });
    const out = path.join(dir, 'r.img');
    await ok(['restore', b.backupId, out, '--vault', dst, '--allow-replica', '--password-file', pw]);
    expect(await sha256File(out)).toBe(await sha256File(img));

    await ok(['init', '--vault', plain, '--block-size', '64KiB']);
    const refused = await runCli(['copy', '--from', src, '--to', plain, '--all', '--password-file', pw], { env: NO_ENV_KEYS });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/in the clear/);
    expect(refused.stderr).toMatch(/--allow-unencrypted-destination/);
    const allowed = (await ok(['copy', '--from', src, '--to', plain, '--all', '--allow-unencrypted-destination', '--password-file', pw, '--json'])).events.at(-1)!;
    expect(allowed).toMatchObject({ copied: [b.backupId] });

    const archive = path.join(dir, 'a.bvtar');
    const exp = await runCli(['export', b.backupId, '--vault', src, '-o', archive, '--password-file', pw], { env: NO_ENV_KEYS });
    expect(exp.code).toBe(2);
    expect(exp.stderr).toMatch(/is encrypted: export writes archives of unencrypted backups only/);
    await expect(fs.stat(archive)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
