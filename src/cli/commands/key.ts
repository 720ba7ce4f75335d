import type { Command } from 'commander';
import type { KeyRecord } from '../../crypto/key-record.js';
import { newCommand, usageError } from '../command.js';
import { emit, withVault } from '../context.js';
import { makeKeyFile, passphraseFromCommand, type NewKeyOpts } from '../key-input.js';
import { addVaultOptions, type CommonOpts } from '../options.js';
import { formatTable, shortTime } from '../table.js';

/** What is shown of a key record: never its wrapped secret or check value. */
function view(k: KeyRecord) {
  return { id: k.id, kind: k.kind, domain: k.domain, label: k.label ?? null, created: k.created, ...(k.kind === 'kms' ? { cmkId: k.cmkId } : {}) };
}

interface AddOpts extends CommonOpts, NewKeyOpts {
  label?: string;
  domain?: string;
}

export function register(program: Command): void {
  const key = newCommand(
    program,
    'key',
    "list, add or remove the keys of an encrypted vault (several ways in, one data key)",
    [
      'blockvault key list --vault s3://bucket/prefix --password-file ./pw',
      'blockvault key add --vault ./vault --password-file ./pw --new-key-file ./escrow.key --label escrow',
      'blockvault key remove 3f1c0a9e2b7d4c11 --vault ./vault --key-file ./escrow.key',
    ],
    'Adding or removing a key re-encrypts no data: each key wraps the same data key. The last way in is never removed.',
  );

  const list = newCommand(key, 'list', "list the vault's keys: id, kind, key domain, label, when made", ['blockvault key list --vault ./vault']);
  addVaultOptions(list).action(async (opts: CommonOpts) => {
    await withVault(opts, async (vault) => {
      const keys = await vault.listKeys();
      emit(opts, { vault: vault.url, keys: keys.map(view) }, () => {
        if (!keys.length) return '(no keys: the vault is not encrypted)';
        return formatTable(
          [{ header: 'ID' }, { header: 'KIND' }, { header: 'DOMAIN' }, { header: 'LABEL' }, { header: 'CREATED (UTC)' }],
          keys.map((k) => [k.id, k.kind, k.domain.slice(0, 16), k.label ?? '', shortTime(k.created)]),
        );
      });
    });
  });

  const add = newCommand(
    key,
    'add',
    'add a way in: a passphrase (from a file or a command) or a key file',
    [
      'blockvault key add --vault ./vault --password-file ./pw --new-password-file ./pw2 --label laptop',
      'blockvault key add --vault ./vault --password-file ./pw --new-key-file ./vault.key',
    ],
    `The vault opens with the key flags (--password-file, --password-command, --key-file) or
BLOCKVAULT_PASSWORD / BLOCKVAULT_PASSWORD_FILE / BLOCKVAULT_KEY_FILE; the new key is one of
--new-password-file, --new-password-command, --new-key-file (a file that does not exist is
made with 32 random bytes, mode 0600; an existing one is used as it is).`,
  )
    .option('--new-password-file <file>', 'the new passphrase, from a file')
    .option('--new-password-command <command>', 'the new passphrase, printed by a command')
    .option('--new-key-file <file>', 'a key file: used if it exists, else made')
    .option('--label <text>', 'a note shown by `key list` (laptop, ops escrow)')
    .option('--domain <id>', 'the key domain (default: the vault\'s)');
  addVaultOptions(add).action(async (opts: AddOpts) => {
    const given = [opts.newPasswordFile, opts.newPasswordCommand, opts.newKeyFile].filter((x) => x !== undefined).length;
    if (given !== 1) throw usageError(add, given ? 'give one new key, not several' : 'missing the new key: --new-password-file, --new-password-command or --new-key-file');
    const { readFile, rm, stat } = await import('node:fs/promises');
    let input: { passphrase: string } | { keyFile: string };
    let made = false;
    if (opts.newPasswordFile !== undefined) {
      const text = await readFile(opts.newPasswordFile, 'utf8').catch((e) => Promise.reject(usageError(add, `cannot read --new-password-file ${opts.newPasswordFile}: ${(e as Error).message}`)));
      const pass = text.replace(/\r?\n$/, '');
      if (!pass) throw usageError(add, `--new-password-file ${opts.newPasswordFile} is empty`);
      input = { passphrase: pass };
    } else if (opts.newPasswordCommand !== undefined) {
      input = { passphrase: await passphraseFromCommand(opts.newPasswordCommand, '--new-password-command') };
    } else {
      const file = opts.newKeyFile!;
      made = !(await stat(file).catch(() => undefined));
      input = { keyFile: file };
    }
    await withVault(opts, async (vault) => {
      if (made) await makeKeyFile(opts.newKeyFile!);
      let rec;
      try {
        rec = await vault.addKey(input, { ...(opts.label ? { label: opts.label } : {}), ...(opts.domain ? { domain: opts.domain } : {}) });
      } catch (e) {
        if (made) await rm(opts.newKeyFile!, { force: true }); // a key file that opens nothing is not left behind
        throw e;
      }
      emit(opts, { vault: vault.url, key: view(rec), ...(made ? { keyFileMade: opts.newKeyFile } : {}) }, () =>
        `added key ${rec.id} (${rec.kind}${rec.label ? `, ${rec.label}` : ''}) to key domain ${rec.domain.slice(0, 16)} of ${vault.url}` +
        (made ? `\n  made key file ${opts.newKeyFile}: keep it safe, it opens the vault` : ''),
      );
    });
  });

  const remove = newCommand(key, 'remove <key-id>', 'remove a way in (never the last one of a key domain)', ['blockvault key remove 3f1c0a9e2b7d4c11 --vault ./vault --password-file ./pw']);
  addVaultOptions(remove).action(async (keyId: string, opts: CommonOpts) => {
    await withVault(opts, async (vault) => {
      const rec = await vault.removeKey(keyId);
      emit(opts, { vault: vault.url, removed: view(rec) }, () => `removed key ${rec.id} (${rec.kind}${rec.label ? `, ${rec.label}` : ''}) from ${vault.url}`);
    });
  });
}
