// Option groups shared by several commands, and value parsers that refuse bad input with
// exit 2 (commander reports an InvalidArgumentError as "option … argument … is invalid").
import { InvalidArgumentError, type Command } from 'commander';
import { parseSize } from '../metrics/units.js';

/** Options every vault command takes. */
export interface VaultOpts {
  vault?: string;
  vaultFile?: string;
  endpoint?: string;
  region?: string;
  createBucket?: boolean;
}

/** How a store is used, on every command that opens one (storeOptions in context.ts maps them). */
export interface StoreUseOpts {
  limitUpload?: number;
  limitDownload?: number;
  s3Concurrency?: number;
  s3Timeout?: number;
}

/** Options every command takes. */
export interface OutputOpts {
  json?: boolean;
  quiet?: boolean;
  verbose?: number;
}

/** The ways into an encrypted vault (key-input.ts reads them). */
export interface KeyOpts {
  passwordFile?: string;
  passwordCommand?: string;
  keyFile?: string;
}

export type CommonOpts = VaultOpts & StoreUseOpts & KeyOpts & OutputOpts;

export function addOutputOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'machine output: NDJSON on stdout (progress lines, then one result or error line)')
    .option('-q, --quiet', 'no progress bar; log errors only')
    .option('-v, --verbose', 'log more on stderr (-v info, -vv debug)', (_v: string, n: number) => n + 1, 0);
}

/** --vault and the S3 connection options; `creates` adds --create-bucket (init, backup). */
export function addVaultOptions(cmd: Command, creates = false): Command {
  cmd
    .option('--vault <dir|s3://bucket/prefix>', 'the vault (default: $BLOCKVAULT_VAULT)')
    .option('--vault-file <file>', 'read the vault location from the first line of FILE')
    .option('--endpoint <url>', 'S3 endpoint URL (default: $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)', parseEndpoint)
    .option('--region <region>', 'S3 region (default: the AWS chain, else us-east-1)');
  if (creates) cmd.option('--create-bucket', 'create the S3 bucket if it does not exist');
  return addOutputOptions(addKeyOptions(addStoreUseOptions(cmd)));
}

/** An encrypted vault's key; without one, $BLOCKVAULT_PASSWORD, $BLOCKVAULT_PASSWORD_FILE, $BLOCKVAULT_KEY_FILE. */
export function addKeyOptions(cmd: Command): Command {
  return cmd
    .option('--password-file <file>', 'encrypted vault: the passphrase, from a file (default: $BLOCKVAULT_PASSWORD, $BLOCKVAULT_PASSWORD_FILE)')
    .option('--password-command <command>', 'encrypted vault: the passphrase, printed by a command (run with sh)')
    .option('--key-file <file>', 'encrypted vault: a key file of 32 random bytes (default: $BLOCKVAULT_KEY_FILE)');
}

/** Bandwidth limits (any store) and the S3 client's requests in flight and time per call. */
export function addStoreUseOptions(cmd: Command): Command {
  return cmd
    .option('--limit-upload <rate>', 'average bytes per second sent to the store, e.g. 50MiB (default: no limit)', parseRate)
    .option('--limit-download <rate>', 'average bytes per second read from the store, e.g. 50MiB (default: no limit)', parseRate)
    .option('--s3-concurrency <n>', 'S3 requests in flight at most (default 32)', parsePositiveInt)
    .option('--s3-timeout <duration>', 'S3: longest time of one call with its retries, e.g. 30s, 2m (default 2m)', parseDurationMs);
}

/** "50MiB", "50MiB/s", "1m/s", "1048576": bytes per second, above 0. */
export function parseRate(text: string): number {
  let n: number;
  try {
    n = parseSize(text.replace(/\s*\/\s*s(ec)?\s*$/i, ''));
  } catch {
    throw new InvalidArgumentError('not a rate in bytes per second (try 50MiB, 512KiB, 2GiB)');
  }
  if (!(n > 0)) throw new InvalidArgumentError('takes a rate above 0 (leave the flag out for no limit)');
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "30s", "2m", "1h", "1m30s"; a bare number is seconds. In milliseconds, above 0. */
export function parseDurationMs(text: string): number {
  const t = text.trim().toLowerCase();
  let ms = 0;
  if (/^\d+(\.\d+)?$/.test(t)) ms = Number(t) * 1000;
  else {
    const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
    if (!parts.length || parts.map((p) => p[0]).join('') !== t) throw new InvalidArgumentError('not a duration (try 30s, 2m, 500ms, 1m30s)');
    for (const p of parts) ms += Number(p[1]) * DURATION_UNITS[p[2]!]!;
  }
  if (!(ms >= 1) || !Number.isFinite(ms)) throw new InvalidArgumentError('takes a duration of at least 1ms');
  return Math.round(ms);
}

/** A whole number from min to max (the service's full_backup_interval: -1 to 100). */
export function intRangeParser(min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`takes a whole number from ${min} to ${max}`);
    return n;
  };
}

/** An ISO 8601 time (2026-12-01T08:00:00Z); refused when it does not parse. */
export function parseTime(text: string): string {
  if (!/^\d{4}-\d{2}-\d{2}/.test(text.trim()) || Number.isNaN(new Date(text).getTime())) {
    throw new InvalidArgumentError('not a time; write ISO 8601, e.g. 2026-12-01T08:00:00Z');
  }
  return text.trim();
}

/** --metrics-listen for one-shot runs (backup, restore): /metrics while the run lasts. */
export function addMetricsOption(cmd: Command): Command {
  return cmd.option('--metrics-listen <host:port>', 'serve Prometheus /metrics on HOST:PORT while this run lasts', parseHostPort);
}

/** HOST:PORT, IPv6 in brackets ([::1]:9464). */
export function parseHostPort(text: string): string {
  if (!/^(?:\[[0-9A-Fa-f:.]+\]|[^:\s]+):\d{1,5}$/.test(text) || Number(text.slice(text.lastIndexOf(':') + 1)) > 65535) {
    throw new InvalidArgumentError('takes HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464');
  }
  return text;
}

export function parseEndpoint(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError(`not a URL; write it with its scheme, e.g. http://${text}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(`the endpoint must be http:// or https://, not ${url.protocol}//`);
  }
  return text;
}

export function parseSizeOption(text: string): number {
  try {
    return parseSize(text);
  } catch {
    throw new InvalidArgumentError('not a size (try 4MiB, 64KiB, 2GiB)');
  }
}

export function parsePositiveInt(text: string): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('takes a whole number above 0');
  return n;
}

/** Retention counts: a whole number, -1 or 0 meaning unset (the service's convention). */
export function parseRetentionCount(text: string): number {
  const n = Number(text);
  if (!/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < -1) throw new InvalidArgumentError('takes a whole number (-1 or 0: unset)');
  return n;
}

/** "10", "10%", "0.5": a percentage in [min, 100]; above 0 unless zeroOk. */
export function percentParser(zeroOk: boolean): (text: string) => number {
  return (text) => {
    const n = Number(text.trim().replace(/%$/, ''));
    if (!Number.isFinite(n) || n > 100 || n < 0 || (!zeroOk && n === 0)) {
      throw new InvalidArgumentError(`takes a percentage ${zeroOk ? 'from 0' : 'above 0'} up to 100`);
    }
    return n;
  };
}

export function parseCompression(text: string): 'lz4' | 'none' {
  if (text !== 'lz4' && text !== 'none') throw new InvalidArgumentError('takes lz4 or none');
  return text;
}
