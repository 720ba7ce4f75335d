// --metrics-listen for one-shot runs (backup, restore): a /metrics endpoint that lives as long
// as the run, fed by the run's progress events and its store requests. Without the flag,
// nothing is loaded (prom-client stays out of start-up).
import type { ProgressEvent } from '../metrics/progress.js';
import type { OpenVaultOptions } from '../vault/vault.js';
import { logger, logs } from './context.js';
import type { OutputOpts } from './options.js';
import { UsageError } from './usage-error.js';

export interface RunMetrics {
  /** Spread into the vault's open options: observes every store request. */
  vaultOptions: Pick<OpenVaultOptions, 'observe' | 'store'>;
  /** Wraps the run's progress listener. */
  wrap(onProgress: (e: ProgressEvent) => void): (e: ProgressEvent) => void;
}

export async function runMetrics(opts: OutputOpts & { metricsListen?: string }, op: 'backup' | 'restore'): Promise<RunMetrics> {
  if (!opts.metricsListen) return { vaultOptions: {}, wrap: (f) => f };
  const { BlockvaultMetrics, serveMetrics } = await import('../metrics/prometheus.js');
  const metrics = new BlockvaultMetrics();
  let server;
  try {
    server = await serveMetrics(metrics, opts.metricsListen);
  } catch (e) {
    throw new UsageError(`cannot serve metrics on ${opts.metricsListen}: ${(e as Error).message}`, {
      hint: 'give a free HOST:PORT, e.g. --metrics-listen 127.0.0.1:9464',
    });
  }
  if (logs(opts, 'info')) (await logger(opts)).info({ url: server.url }, `metrics on ${server.url}`);
  const key = `${op}-${process.pid}`;
  metrics.jobState(op, undefined, 'RUNNING');
  return {
    vaultOptions: { observe: metrics.storeObserver(), ...metrics.retryHook() },
    wrap: (f) => (e) => {
      metrics.progress(key, op, e.counters);
      f(e);
    },
  };
}
