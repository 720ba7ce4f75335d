// The ways into an encrypted vault, as the command line gives them: --password-file,
// --password-command, --key-file (else BLOCKVAULT_PASSWORD / BLOCKVAULT_PASSWORD_FILE /
// BLOCKVAULT_KEY_FILE, which the library reads itself), and the new key of `init --encrypt`
// and `key add`. Cheap to import: node:fs and node:child_process load only when used.
import type { VaultKeys } from '../crypto/vault-crypto.js';
import type { KeyOpts } from './options.js';
import { UsageError } from './usage-error.js';

/** A passphrase file's text without the one newline an editor or `echo` adds. */
async function readPassphraseFile(file: string, flag: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${flag} ${file}: ${(e as Error).message}`, { hint: 'give a file that holds the passphrase' });
  }
  const pass = text.replace(/\r?\n$/, '');
  if (!pass) throw new UsageError(`${flag} ${file} is empty`, { hint: 'write the passphrase in it' });
  return pass;
}

/** Runs `command` with sh; its stdout (less one final newline) is the passphrase. Its stdin
 *  and stderr are the terminal's, so a command that asks (pass, systemd-ask-password) can. */
export async function passphraseFromCommand(command: string, flag: string): Promise<string> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { stdio: ['inherit', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.on('error', (e) => reject(new UsageError(`${flag} could not run: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code !== 0) {
        reject(new UsageError(`${flag} ${JSON.stringify(command)} ${signal ? `was killed by ${signal}` : `exited with ${code}`}`, { hint: 'the command must print the passphrase and exit 0' }));
        return;
      }
      const pass = Buffer.concat(out).toString('utf8').replace(/\r?\n$/, '');
      if (!pass) reject(new UsageError(`${flag} ${JSON.stringify(command)} printed nothing`, { hint: 'the command must print the passphrase on stdout' }));
      else resolve(pass);
    });
  });
}

/** The keys the flags give; undefined when none is given (the library then reads the environment). */
export async function keysFromFlags(opts: KeyOpts): Promise<VaultKeys | undefined> {
  if (opts.passwordFile !== undefined && opts.passwordCommand !== undefined) {
    throw new UsageError('give --password-file or --password-command, not both');
  }
  const keys: VaultKeys = {};
  if (opts.passwordFile !== undefined) keys.passphrase = await readPassphraseFile(opts.passwordFile, '--password-file');
  if (opts.passwordCommand !== undefined) keys.passphrase = await passphraseFromCommand(opts.passwordCommand, '--password-command');
  if (opts.keyFile !== undefined) keys.keyFile = opts.keyFile;
  return Object.keys(keys).length ? keys : undefined;
}

/** The keys in effect: the flags', else the environment's. */
export async function keysInEffect(opts: KeyOpts): Promise<VaultKeys | undefined> {
  const given = await keysFromFlags(opts);
  if (given) return given;
  const { keysFromEnv } = await import('../crypto/vault-crypto.js');
  return keysFromEnv();
}

/** A new key: a passphrase from a file or a command, or a key file (made when `make`). */
export interface NewKeyOpts {
  newPasswordFile?: string;
  newPasswordCommand?: string;
  newKeyFile?: string;
}

export type NewKey = { passphrase: string } | { keyFile: string };

/** Writes a fresh key file (32 random bytes as hex) at `file`; refuses one that exists. */
export async function makeKeyFile(file: string): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  const { newKeyFile } = await import('../crypto/key-file.js');
  try {
    await writeFile(file, newKeyFile(), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot write a new key file at ${file}: ${code === 'EEXIST' ? 'it exists' : (e as Error).message}`, {
      hint: code === 'EEXIST' ? 'give a new file name (an existing key file is used with --key-file)' : 'give a writable path',
    });
  }
}
