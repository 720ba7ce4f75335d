// The HTTP agent: the job model over HTTP on fastify, for control planes in any language.
// It binds 127.0.0.1 by default, checks a bearer token on every route but /healthz, runs at
// most maxJobs jobs at once, answers errors with the service's codes, logs through pino, and
// on close cancels its running jobs so that each ends FAIL on record with the reason.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import type { StartJobOptions } from '../jobs/start.js';
import { BlockvaultMetrics, parseListen } from '../metrics/prometheus.js';
import type { OpenVaultOptions, Vault } from '../vault/vault.js';
import { bearerChecker, checkAuthConfig } from './auth.js';
import { HttpError, errorBody, toHttpError, unauthorized } from './http-errors.js';
import { JOB_TYPE_TABLE, type JobTypeEntry } from './job-types.js';
import { JobRunner } from './job-runner.js';
import { registerRoutes } from './routes.js';

export const DEFAULT_LISTEN = '127.0.0.1:8420';
export const DEFAULT_MAX_JOBS = 4;
export const DEFAULT_SHUTDOWN_MS = 30_000;

export interface AgentOptions {
  /** The vault location (a directory or s3://bucket/prefix). */
  vault: string;
  /** Store options for opening it (endpoint, region…). */
  vaultOptions?: OpenVaultOptions;
  /** HOST:PORT (default 127.0.0.1:8420; port 0 picks a free one). */
  listen?: string;
  /** The bearer token every request but /healthz must carry. */
  token?: string;
  /** Only on a loopback address: run without a token. */
  noAuth?: boolean;
  /** Jobs at once; one more is refused with 429 (default 4). */
  maxJobs?: number;
  /** pino logger (default: info level, JSON on stderr). */
  logger?: Logger;
  /** Job records are rewritten this often (ms, default the job model's 2 s). */
  heartbeatMs?: number;
  /** How long close() waits for cancelled jobs to end (default 30 s). */
  shutdownTimeoutMs?: number;
  /** Adjusts each job's start options before it starts (fixed site options; tests). */
  prepareJob?: (start: StartJobOptions) => StartJobOptions;
  /** The job types POST /v1/jobs takes (default JOB_TYPE_TABLE). */
  jobTypes?: Partial<Record<string, JobTypeEntry>>;
  metrics?: BlockvaultMetrics;
}

export interface Agent {
  /** http://host:port */
  readonly url: string;
  readonly port: number;
  readonly metrics: BlockvaultMetrics;
  readonly log: Logger;
  readonly app: FastifyInstance;
  /** Stops: refuses new jobs, cancels the running ones with `reason`, waits for them, closes. */
  close(reason?: string): Promise<void>;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { host, port } = parseListen(opts.listen ?? DEFAULT_LISTEN);
  checkAuthConfig(host, opts.token, opts.noAuth ?? false);
  const log = opts.logger ?? pino({ level: 'info', base: { component: 'agent' } });
  const metrics = opts.metrics ?? new BlockvaultMetrics();
  const { Vault: VaultClass } = await import('../vault/vault.js');
  const given = opts.vaultOptions ?? {};
  const vaultOptions: OpenVaultOptions = {
    ...given,
    observe: metrics.storeObserver(),
    // Every retried S3 attempt is counted, also those of requests that succeed in the end.
    store: { ...given.store, s3: { ...given.store?.s3, ...metrics.retryHook().store.s3 } },
  };
  const vault: Vault = await VaultClass.open(opts.vault, vaultOptions);
  const runner = new JobRunner({
    openVault: () => VaultClass.open(opts.vault, vaultOptions),
    maxJobs: opts.maxJobs ?? DEFAULT_MAX_JOBS,
    heartbeatMs: opts.heartbeatMs,
    log,
    metrics,
    prepareJob: opts.prepareJob,
  });

  const app = Fastify({ loggerInstance: log as FastifyBaseLogger, bodyLimit: 1 << 20, return503OnClosing: true });
  const allowed = opts.token ? bearerChecker(opts.token) : undefined;
  app.addHook('onRequest', async (req, reply) => {
    if (!allowed || req.url === '/healthz') return;
    if (!allowed(req.headers.authorization)) {
      reply.header('www-authenticate', 'Bearer realm="blockvault"');
      throw unauthorized(req.headers.authorization ? 'the bearer token is not the agent\'s' : 'no bearer token: this agent needs Authorization: Bearer <token>');
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequest(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime);
  });
  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    let http: HttpError;
    if (err instanceof HttpError) http = err;
    else if ((err as FastifyError).statusCode && (err as FastifyError).statusCode! < 500 && (err as FastifyError).code?.startsWith('FST_')) {
      // fastify's own refusals: a body that is not JSON, a wrong content type, too large…
      const f = err as FastifyError;
      http = new HttpError(f.statusCode!, errorBody('VolumeBackup.0002', 'BackupService.9900', f.message, { engine_code: 'BV.BadInput', field: '(body)', fastify_code: f.code }));
    } else http = toHttpError(err);
    if (http.statusCode >= 500) req.log.error({ err }, 'request failed');
    reply.code(http.statusCode).send(http.body);
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody('VolumeBackup.0105', 'BackupService.9900', `no route ${req.method} ${req.url.split('?')[0]}`, { engine_code: 'BV.NotFound' }));
  });
  registerRoutes(app, { vault, runner, metrics, jobTypes: opts.jobTypes ?? JOB_TYPE_TABLE, version: version() });

  try {
    await app.listen({ host, port });
  } catch (e) {
    await vault.close().catch(() => {});
    throw e;
  }
  const a = app.server.address() as AddressInfo;
  const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  log.info({ url, vault: vault.url, max_jobs: opts.maxJobs ?? DEFAULT_MAX_JOBS, auth: allowed ? 'bearer' : 'off (--no-auth, loopback)' }, 'agent listening');

  let closing: Promise<void> | undefined;
  const close = (reason = 'agent stopped') =>
    (closing ??= (async () => {
      log.info({ reason }, 'agent stopping');
      const r = await runner.stop(reason, opts.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_MS);
      await app.close();
      await vault.close().catch(() => {});
      log.info({ cancelled: r.cancelled, unfinished: r.unfinished }, 'agent stopped');
    })());
  return { url, port: a.port, metrics, log, app, close };
}

/** Runs until SIGTERM or SIGINT, then closes the agent gracefully; resolves with the signal. */
export function untilSignal(agent: Agent): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      // A second signal while stopping quits at once (the records are then found stale).
      process.once(sig, () => process.exit(130));
      void agent.close(`agent stopped by ${sig}`).then(() => resolve(sig));
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export { HttpError };
