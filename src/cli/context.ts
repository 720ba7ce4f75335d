// What every command's action needs: the vault location (flag, file or environment), the
// store options, output (human or NDJSON), the log (pino, to stderr) and cancellation.
// Heavy modules (the vault, the engine, pino) load only when an action asks for them, so
// `--help`, `--version` and completion start fast.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { OpenVaultOptions, Vault } from '../vault/vault.js';
import type { CommonOpts, OutputOpts } from './options.js';
import { UsageError } from './usage-error.js';

export const VAULT_ENV = 'BLOCKVAULT_VAULT';

/** The vault location: --vault, else --vault-file, else $BLOCKVAULT_VAULT; checked for typos. */
export function vaultLocation(opts: CommonOpts): string {
  let where = opts.vault;
  if (!where && opts.vaultFile) {
    let text: string;
    try {
      text = readFileSync(opts.vaultFile, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read --vault-file ${opts.vaultFile}: ${(e as Error).message}`, { hint: 'give a file whose first line is the vault location' });
    }
    where = text.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
    if (!where) throw new UsageError(`--vault-file ${opts.vaultFile} names no vault`, { hint: 'write the vault location on its first line' });
  }
  where ||= process.env[VAULT_ENV];
  if (!where) {
    throw new UsageError('missing --vault', { hint: `pass --vault DIR|s3://bucket/prefix, --vault-file FILE, or set ${VAULT_ENV}` });
  }
  return checkLocation(where);
}

/** Refuses what looks like a mistyped URL (s3:/b, s3:b, http://…) instead of making a directory of it. */
export function checkLocation(where: string): string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(where)?.[1];
  if (scheme === undefined) return where;
  if (/^s3:\/\/[^/]/.test(where)) return where;
  if (/^file:\/\//.test(where)) return decodeURIComponent(new URL(where).pathname);
  throw new UsageError(`not a vault location: ${JSON.stringify(where)}`, {
    hint:
      scheme.toLowerCase() === 's3'
        ? 'write an S3 vault as s3://bucket or s3://bucket/prefix (two slashes)'
        : `a vault is a directory or s3://bucket/prefix; for a directory whose name has a colon, write ./${where}`,
    details: { location: where },
  });
}

/** The store options the flags give: S3 connection, bandwidth limits, S3 client tuning. */
export function storeOptions(opts: CommonOpts): OpenVaultOptions {
  const s3 = {
    ...(opts.s3Concurrency !== undefined ? { concurrency: opts.s3Concurrency } : {}),
    ...(opts.s3Timeout !== undefined ? { operationTimeoutMs: opts.s3Timeout } : {}),
  };
  return {
    endpoint: opts.endpoint,
    region: opts.region,
    createBucket: opts.createBucket,
    ...(opts.limitUpload !== undefined ? { limitUploadBytesPerSec: opts.limitUpload } : {}),
    ...(opts.limitDownload !== undefined ? { limitDownloadBytesPerSec: opts.limitDownload } : {}),
    ...(Object.keys(s3).length ? { store: { s3 } } : {}),
  };
}

/** Opens the vault the options name (creating it only when asked). */
export async function openVaultFrom(opts: CommonOpts, extra: OpenVaultOptions = {}): Promise<Vault> {
  const location = vaultLocation(opts);
  const { keysFromFlags } = await import('./key-input.js');
  const keys = await keysFromFlags(opts); // none given: the library reads BLOCKVAULT_PASSWORD & co.
  const { Vault } = await import('../vault/vault.js');
  const vault = await underCancellation(() => Vault.open(location, { ...storeOptions(opts), ...(keys ? { keys } : {}), ...extra }));
  if (logs(opts, 'info')) (await logger(opts)).info({ blockSize: vault.blockSize }, `vault ${vault.url} opened`);
  return vault;
}

/** Opens the vault, runs fn, closes the vault whatever happens; all of it under cancellation. */
export async function withVault<T>(opts: CommonOpts, fn: (vault: Vault) => Promise<T>, extra: OpenVaultOptions = {}): Promise<T> {
  return underCancellation(async () => {
    const vault = await openVaultFrom(opts, extra);
    try {
      return await fn(vault);
    } finally {
      await vault.close().catch(() => {});
    }
  });
}

/** Runs fn with the command's cancellation signal as the operation's: Ctrl-C or SIGTERM then
 *  ends every store request it makes, however deep (a hung server included), and the command
 *  exits 130. */
export async function underCancellation<T>(fn: () => Promise<T>): Promise<T> {
  const { withOperationSignal } = await import('../vault/operation.js');
  return withOperationSignal(cancellationSignal().signal, fn);
}

let machine: NodeJS.WritableStream = process.stdout;

/** Where results, NDJSON events and the error line go: stdout, unless a command sends its
 *  data there (`export -o -`), which diverts them to stderr. */
export function machineOutput(): NodeJS.WritableStream {
  return machine;
}

export function divertMachineOutput(to: NodeJS.WritableStream): void {
  machine = to;
}

/** Prints a command's result: one NDJSON line with --json, else the human text. */
export function emit(opts: OutputOpts, result: object, human: () => string): void {
  if (opts.json) machine.write(JSON.stringify({ event: 'result', ...result }) + '\n');
  else {
    const text = human();
    if (text) machine.write(text + '\n');
  }
}

export function logLevel(opts: OutputOpts): string {
  if (opts.quiet) return 'error';
  const v = opts.verbose ?? 0;
  return v >= 2 ? 'debug' : v === 1 ? 'info' : 'warn';
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** Whether a record at `level` would be written: check before logger() where the record is
 *  optional (pino takes ~25 ms to load, and the default level shows no info). */
export function logs(opts: OutputOpts, level: keyof typeof LEVELS): boolean {
  return LEVELS[level] >= LEVELS[logLevel(opts) as keyof typeof LEVELS];
}

let log: Promise<Logger> | undefined;

/** The process's logger: pino on stderr; one human line per record, or pino's JSON with --json. */
export function logger(opts: OutputOpts): Promise<Logger> {
  log ??= import('pino').then(({ pino }) => {
    const human = {
      write(line: string) {
        try {
          const { level, msg, time: _t, pid: _p, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
          const name = pino.levels.labels[level as number] ?? String(level);
          const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
          process.stderr.write(`blockvault: ${name}: ${String(msg ?? '')}${extra}\n`);
        } catch {
          process.stderr.write(line);
        }
      },
    };
    return pino({ level: logLevel(opts), base: undefined }, opts.json ? pino.destination({ fd: 2, sync: true }) : human);
  });
  return log;
}

/** Cancellation: the first Ctrl-C (or SIGTERM) aborts the signal; a second Ctrl-C quits at once. */
export interface Cancellation {
  readonly signal: AbortSignal;
  /** Called first on an interrupt (stops the progress bar before anything is printed). */
  onInterrupt(fn: () => void): void;
}

let cancellation: Cancellation | undefined;

export function cancellationSignal(): Cancellation {
  if (cancellation) return cancellation;
  const controller = new AbortController();
  const listeners: Array<() => void> = [];
  let interrupts = 0;
  const interrupt = (why: string) => {
    for (const fn of listeners) fn();
    if (why === 'interrupted' && ++interrupts > 1) process.exit(130);
    if (why === 'interrupted') process.stderr.write('\ncancelling (Ctrl-C again to quit at once)…\n');
    controller.abort(new Error(why));
  };
  process.on('SIGINT', () => interrupt('interrupted'));
  process.on('SIGTERM', () => interrupt('terminated'));
  cancellation = { signal: controller.signal, onInterrupt: (fn) => listeners.push(fn) };
  return cancellation;
}
