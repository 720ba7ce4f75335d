// Encryption from the command line, each step its own process: init --encrypt with each kind of
// key (flag and environment), a wrong or missing key exits 2 naming the key ids, key
// list|add|remove, and a known block of the image appears in no stored object.
import { existsSync, promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { makeImage, sha256File, tempDir } from '../helpers/images.js';

let dir: string;
let img: string;
let pw: string;
let marker: Buffer;

async function ok(args: string[], env?: NodeJS.ProcessEnv): Promise<CliRun> {
  const r = await runCli(args, { env });
  expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r;
}
const result = (r: CliRun) => r.events.at(-1)!;
// no key from the test's own environment
const NO_ENV_KEYS = { BLOCKVAULT_PASSWORD: '', BLOCKVAULT_PASSWORD_FILE: '', BLOCKVAULT_KEY_FILE: '' };

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(root, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  return out;
}

beforeAll(async () => {
  dir = await tempDir('cli-encryption');
  img = path.join(dir, 'disk.img');
  await makeImage(img, { blocks: ['text', 'random', 'text', 'hole', 'random', 'text', 'random', 'random'], blockSize: 64 * 1024, seed: 17 });
  marker = (await fs.readFile(img)).subarray(65536 + 100, 65536 + 164); // 64 bytes of a random block: stored verbatim in a plain vault
  pw = path.join(dir, 'pw');
  await fs.writeFile(pw, 'correct horse battery\n');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('init --encrypt and the key flags', () => {
  it('a passphrase file makes an encrypted vault; every command needs the key; nothing readable is stored', async () => {
    const v = path.join(dir, 'enc');
    const init = result(await ok(['init', '--vault', v, '--encrypt', '--password-file', pw, '--block-size', '64KiB', '--label', 'ops', '--json'], NO_ENV_KEYS));
    expect(init).toMatchObject({ encrypted: true });
    expect(init.keys).toEqual([expect.objectContaining({ kind: 'passphrase', label: 'ops' })]);
    const keyId = init.keys[0].id as string;

    const b = result(await ok(['backup', img, '--vault', v, '--volume', 'vol-e', '--password-file', pw, '--json'], NO_ENV_KEYS));
    expect(b.encrypted).toBe(true);
    for (const f of await filesUnder(v)) expect((await fs.readFile(f)).includes(marker), f).toBe(false);

    // without a key, with a wrong one: exit 2, naming the vault and the key that opens it
    const none = await runCli(['list', '--vault', v, '--json'], { env: NO_ENV_KEYS });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/is encrypted and no key was given/);
    expect(none.stderr).toContain(keyId);
    await fs.writeFile(path.join(dir, 'bad'), 'wrong\n');
    const wrong = await runCli(['restore', b.backupId, path.join(dir, 'x.img'), '--vault', v, '--password-file', path.join(dir, 'bad'), '--json'], { env: NO_ENV_KEYS });
    expect(wrong.code).toBe(2);
    expect(result(wrong)).toMatchObject({ event: 'error', code: 'BV.BadInput' });
    expect(result(wrong).keyIds).toEqual([keyId]);
    expect(wrong.stderr).toMatch(new RegExp(`does not open vault .*${keyId}`, 's'));
    expect(existsSync(path.join(dir, 'x.img'))).toBe(false);

    // the same passphrase through a command and through the environment
    const out = path.join(dir, 'r.img');
    await ok(['restore', b.backupId, out, '--vault', v, '--password-command', `cat ${JSON.stringify(pw)}`], NO_ENV_KEYS);
    expect(await sha256File(out)).toBe(await sha256File(img));
    await ok(['list', '--vault', v], { ...NO_ENV_KEYS, BLOCKVAULT_PASSWORD: 'correct horse battery' });
    await ok(['list', '--vault', v], { ...NO_ENV_KEYS, BLOCKVAULT_PASSWORD_FILE: pw });
    const failing = await runCli(['list', '--vault', v, '--password-command', 'exit 7'], { env: NO_ENV_KEYS });
    expect(failing.code).toBe(2);
    expect(failing.stderr).toMatch(/--password-command .* exited with 7/);

    // init refuses the vault that is there, with or without its key
    for (const extra of [['--password-file', pw], []]) {
      const again = await runCli(['init', '--vault', v, '--encrypt', ...extra], { env: extra.length ? NO_ENV_KEYS : { ...NO_ENV_KEYS, BLOCKVAULT_PASSWORD: 'nope' } });
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/vault already exists at/);
    }
  });

  it('a key file: made by init when missing (mode 0600); BLOCKVAULT_KEY_FILE opens the vault', async () => {
    const v = path.join(dir, 'kf');
    const key = path.join(dir, 'vault.key');
    const init = await ok(['init', '--vault', v, '--encrypt', '--key-file', key, '--block-size', '64KiB'], NO_ENV_KEYS);
    expect(init.stdout).toMatch(/made key file .*vault\.key/);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect((await fs.readFile(key, 'utf8')).trim()).toMatch(/^[0-9a-f]{64}$/);
    await ok(['backup', img, '--vault', v, '--volume', 'k'], { ...NO_ENV_KEYS, BLOCKVAULT_KEY_FILE: key });
    expect((await runCli(['list', '--vault', v], { env: NO_ENV_KEYS })).code).toBe(2);
  });

  it('refuses key flags without --encrypt, and --encrypt without a key, creating nothing', async () => {
    const v = path.join(dir, 'never');
    const flagOnly = await runCli(['init', '--vault', v, '--password-file', pw], { env: NO_ENV_KEYS });
    expect(flagOnly.code).toBe(2);
    expect(flagOnly.stderr).toMatch(/needs --encrypt/);
    const noKey = await runCli(['init', '--vault', v, '--encrypt'], { env: NO_ENV_KEYS });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/--encrypt needs a key/);
    const both = await runCli(['init', '--vault', v, '--encrypt', '--password-file', pw, '--password-command', 'echo x'], { env: NO_ENV_KEYS });
    expect(both.code).toBe(2);
    expect(existsSync(v)).toBe(false);
  });
});

describe('key list|add|remove', () => {
  it('adds a key file and a passphrase, each opens the vault; a removed key no longer does; the last one stays', async () => {
    const v = path.join(dir, 'keys');
    const first = result(await ok(['init', '--vault', v, '--encrypt', '--password-file', pw, '--block-size', '64KiB', '--json'], NO_ENV_KEYS)).keys[0].id as string;
    await ok(['backup', img, '--vault', v, '--volume', 'kv', '--password-file', pw], NO_ENV_KEYS);

    const escrow = path.join(dir, 'escrow.key');
    const added = result(await ok(['key', 'add', '--vault', v, '--password-file', pw, '--new-key-file', escrow, '--label', 'escrow', '--json'], NO_ENV_KEYS));
    expect(added).toMatchObject({ key: { kind: 'keyfile', label: 'escrow' }, keyFileMade: escrow });
    expect(added.key).not.toHaveProperty('wrapped');
    const pw2 = path.join(dir, 'pw2');
    await fs.writeFile(pw2, 'second phrase\n');
    const second = result(await ok(['key', 'add', '--vault', v, '--key-file', escrow, '--new-password-file', pw2, '--json'], NO_ENV_KEYS)).key.id as string;

    const list = await ok(['key', 'list', '--vault', v, '--password-file', pw2], NO_ENV_KEYS);
    expect(list.stdout).toMatch(/^ID +KIND +DOMAIN +LABEL +CREATED \(UTC\)/);
    expect(list.stdout.trim().split('\n')).toHaveLength(4);
    expect(list.stdout).toMatch(/keyfile +[0-9a-f]{16} +escrow/);

    const removed = result(await ok(['key', 'remove', first, '--vault', v, '--key-file', escrow, '--json'], NO_ENV_KEYS));
    expect(removed.removed.id).toBe(first);
    const gone = await runCli(['list', '--vault', v, '--password-file', pw], { env: NO_ENV_KEYS });
    expect(gone.code).toBe(2);
    expect(gone.stderr).not.toContain(first);
    expect(gone.stderr).toContain(second);

    await ok(['key', 'remove', added.key.id, '--vault', v, '--password-file', pw2], NO_ENV_KEYS);
    const last = await runCli(['key', 'remove', second, '--vault', v, '--password-file', pw2], { env: NO_ENV_KEYS });
    expect(last.code).toBe(2);
    expect(last.stderr).toMatch(/last way into key domain/);
    await ok(['list', '--vault', v, '--password-file', pw2], NO_ENV_KEYS);

    const plain = path.join(dir, 'plain');
    await ok(['init', '--vault', plain]);
    expect((await ok(['key', 'list', '--vault', plain])).stdout).toMatch(/not encrypted/);
    const noAdd = await runCli(['key', 'add', '--vault', plain, '--new-password-file', pw]);
    expect(noAdd.code).toBe(2);
    const twoNew = await runCli(['key', 'add', '--vault', v, '--new-password-file', pw, '--new-key-file', escrow]);
    expect(twoNew.code).toBe(2);
    expect(twoNew.stderr).toMatch(/one new key/);
  });

  it('copy refuses to make a new vault for an encrypted source, creating nothing', async () => {
    const v = path.join(dir, 'csrc');
    await ok(['init', '--vault', v, '--encrypt', '--password-file', pw, '--block-size', '64KiB'], NO_ENV_KEYS);
    await ok(['backup', img, '--vault', v, '--volume', 'c', '--password-file', pw], NO_ENV_KEYS);
    const fresh = path.join(dir, 'cnew');
    const r = await runCli(['copy', '--from', v, '--to', fresh, '--all', '--password-file', pw], { env: NO_ENV_KEYS });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is encrypted and .* does not exist/);
    expect(existsSync(fresh)).toBe(false);
  });
});
