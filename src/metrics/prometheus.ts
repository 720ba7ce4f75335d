// The process's figures in the Prometheus text format (prom-client): bytes by stage of the data
// path (from the progress counters), throughput, jobs by type and status, store requests by
// operation and result with their latency, errors, retries and the agent's HTTP requests.
// One registry per BlockvaultMetrics, so two agents (or two tests) in one process never mix.
// Feeders: the instrumented store (storeObserver), progress events (progress), the agent's
// job hooks (jobStarted/jobEnded) and its request hook (httpRequest).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreObserver, StoreRequestEvent } from '../store/instrumented-store.js';

/** Progress counter name → the `stage` label of blockvault_bytes_total. */
const STAGES: Record<string, string> = {
  bytesScanned: 'scanned',
  bytesRead: 'read',
  bytesSparse: 'sparse',
  bytesZero: 'zero',
  bytesUnchanged: 'unchanged',
  bytesDeduplicated: 'deduplicated',
  bytesCompressedIn: 'compressed_in',
  bytesCompressedOut: 'compressed_out',
  bytesWritten: 'written',
  bytesSkippedByExtents: 'skipped_by_extents',
  bytesRestored: 'restored',
  bytesFetched: 'fetched',
  bytesZeroedOut: 'zeroed_out',
};

/** The counter whose growth is an operation's throughput. */
const DONE: Record<string, string> = { backup: 'bytesScanned', restore: 'bytesRestored' };

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Tracked {
  op: string;
  counters: Record<string, number>;
  at: number;
}

/** What a store retry tells (the S3 store's onRetry event has these fields). */
export interface StoreRetryEvent {
  operation: string;
  category?: string;
}

export class BlockvaultMetrics {
  readonly registry = new Registry();
  readonly #bytes: Counter<'op' | 'stage'>;
  readonly #throughput: Gauge<'op'>;
  readonly #jobs: Gauge<'type' | 'status'>;
  readonly #jobsFinished: Counter<'type' | 'status'>;
  readonly #jobErrors: Counter<'type' | 'error_code'>;
  readonly #jobDuration: Histogram<'type' | 'status'>;
  readonly #storeRequests: Counter<'operation' | 'result'>;
  readonly #storeLatency: Histogram<'operation'>;
  readonly #storeBytes: Counter<'direction'>;
  readonly #storeErrors: Counter<'operation' | 'code'>;
  readonly #storeRetries: Counter<'operation' | 'category'>;
  readonly #httpRequests: Counter<'method' | 'route' | 'status_code'>;
  readonly #httpLatency: Histogram<'method' | 'route'>;
  readonly #tracked = new Map<string, Tracked>();
  readonly #rates = new Map<string, number>();

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.#bytes = new Counter({ name: 'blockvault_bytes_total', help: 'Bytes by stage of the data path (from the progress counters)', labelNames: ['op', 'stage'], registers });
    this.#throughput = new Gauge({
      name: 'blockvault_throughput_bytes_per_second',
      help: 'Logical bytes per second of the running operations, between their last two progress events (0 when none runs)',
      labelNames: ['op'],
      registers,
    });
    this.#jobs = new Gauge({ name: 'blockvault_jobs', help: 'Jobs this process runs now, by type and status (INIT, RUNNING)', labelNames: ['type', 'status'], registers });
    this.#jobsFinished = new Counter({ name: 'blockvault_jobs_finished_total', help: 'Jobs this process ran to an end, by type and status (SUCCESS, FAIL)', labelNames: ['type', 'status'], registers });
    this.#jobErrors = new Counter({ name: 'blockvault_job_errors_total', help: 'Failed jobs by type and the service error code (VBS)', labelNames: ['type', 'error_code'], registers });
    this.#jobDuration = new Histogram({
      name: 'blockvault_job_duration_seconds',
      help: 'Wall time of finished jobs',
      labelNames: ['type', 'status'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400],
      registers,
    });
    this.#storeRequests = new Counter({ name: 'blockvault_store_requests_total', help: 'Object store requests by operation and result', labelNames: ['operation', 'result'], registers });
    this.#storeLatency = new Histogram({
      name: 'blockvault_store_request_duration_seconds',
      help: 'Object store request latency (a list: the whole listing)',
      labelNames: ['operation'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#storeBytes = new Counter({ name: 'blockvault_store_bytes_total', help: 'Object bodies sent to (out) and received from (in) the store', labelNames: ['direction'], registers });
    this.#storeErrors = new Counter({ name: 'blockvault_store_errors_total', help: 'Failed store requests by operation and error code', labelNames: ['operation', 'code'], registers });
    this.#storeRetries = new Counter({ name: 'blockvault_store_retries_total', help: 'Store request attempts retried, by operation and cause', labelNames: ['operation', 'category'], registers });
    this.#httpRequests = new Counter({ name: 'blockvault_http_requests_total', help: 'Agent HTTP requests by method, route and status', labelNames: ['method', 'route', 'status_code'], registers });
    this.#httpLatency = new Histogram({
      name: 'blockvault_http_request_duration_seconds',
      help: 'Agent HTTP request latency',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'blockvault_' });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text a scrape answers. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** An observer for the vault's `observe` option. */
  storeObserver(): StoreObserver {
    return { onRequest: (e) => this.#onStoreRequest(e) };
  }

  #onStoreRequest(e: StoreRequestEvent): void {
    this.#storeRequests.inc({ operation: e.operation, result: e.result });
    this.#storeLatency.observe({ operation: e.operation }, e.durationMs / 1000);
    if (e.bytesOut) this.#storeBytes.inc({ direction: 'out' }, e.bytesOut);
    if (e.bytesIn) this.#storeBytes.inc({ direction: 'in' }, e.bytesIn);
    if (e.result === 'error') {
      this.#storeErrors.inc({ operation: e.operation, code: errorCode(e.error) });
    }
  }

  /** For a store's retry hook (the S3 store's onRetry). */
  /** Open options that route a store's retries here (the S3 store's onRetry hook). */
  retryHook(): { store: { s3: { onRetry: (e: StoreRetryEvent) => void } } } {
    return { store: { s3: { onRetry: (e) => this.storeRetried(e) } } };
  }

  storeRetried(e: StoreRetryEvent): void {
    this.#storeRetries.inc({ operation: e.operation, category: e.category ?? 'unknown' });
  }

  /**
   * A progress event of the operation `key` (a job id, or any name unique while it runs):
   * adds what each byte counter grew by since its previous event, and its rate.
   */
  progress(key: string, op: string, given: object, at = Date.now()): void {
    const counters = given as Readonly<Record<string, number>>; // typed per operation upstream; read by name here
    const before = this.#tracked.get(key);
    for (const [name, value] of Object.entries(counters)) {
      const stage = STAGES[name];
      const grown = value - (before?.counters[name] ?? 0);
      if (stage && grown > 0) this.#bytes.inc({ op, stage }, grown);
    }
    const done = DONE[op];
    if (before && done && at > before.at) {
      const rate = Math.max(0, ((counters[done] ?? 0) - (before.counters[done] ?? 0)) / ((at - before.at) / 1000));
      this.#rates.set(key, rate);
    }
    this.#tracked.set(key, { op, counters: { ...counters }, at });
    this.#updateThroughput(op);
  }

  /** The operation `key` ended: its rate leaves the throughput. */
  forget(key: string): void {
    const t = this.#tracked.get(key);
    this.#tracked.delete(key);
    this.#rates.delete(key);
    if (t) this.#updateThroughput(t.op);
  }

  #updateThroughput(op: string): void {
    let sum = 0;
    for (const [key, rate] of this.#rates) if (this.#tracked.get(key)?.op === op) sum += rate;
    this.#throughput.set({ op }, sum);
  }

  jobState(type: string, from: string | undefined, to: string): void {
    if (from === 'INIT' || from === 'RUNNING') this.#jobs.dec({ type, status: from });
    if (to === 'INIT' || to === 'RUNNING') this.#jobs.inc({ type, status: to });
  }

  jobEnded(key: string, type: string, from: string, status: string, durationMs: number, errorCode: string | null): void {
    this.jobState(type, from, status);
    this.#jobsFinished.inc({ type, status });
    this.#jobDuration.observe({ type, status }, durationMs / 1000);
    if (status === 'FAIL') this.#jobErrors.inc({ type, error_code: errorCode ?? 'unknown' });
    this.forget(key);
  }

  httpRequest(method: string, route: string, statusCode: number, durationMs: number): void {
    this.#httpRequests.inc({ method, route, status_code: String(statusCode) });
    this.#httpLatency.observe({ method, route }, durationMs / 1000);
  }
}

function errorCode(e: unknown): string {
  const err = e as { code?: unknown; category?: unknown; name?: unknown } | undefined;
  if (typeof err?.code === 'string') return err.code;
  if (typeof err?.category === 'string') return err.category;
  return typeof err?.name === 'string' ? err.name : 'unknown';
}

/** HOST:PORT (IPv6 in brackets, [::1]:9464) → its parts; throws a plain Error naming the problem. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`${JSON.stringify(text)} is not HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464; port 0 picks a free one)`);
  return { host: (m[1] ?? m[2])!, port };
}

export interface MetricsServer {
  /** http://host:port/metrics */
  readonly url: string;
  close(): Promise<void>;
}

/** A bare /metrics endpoint for a one-shot run (the agent serves /metrics itself). */
export async function serveMetrics(metrics: BlockvaultMetrics, listen: string): Promise<MetricsServer> {
  const { host, port } = parseListen(listen);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    metrics.text().then(
      (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  const a = server.address() as AddressInfo;
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${shown}:${a.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
