// Starting a block worker costs 60–90 ms: an isolate, then its modules (BLAKE3, LZ4, the
// addon). A command that will hash blocks starts its workers first thing, so they boot on the
// core the main thread leaves idle while it loads the engine and opens the vault; the backup's
// BlockPool then adopts them and sends each its vault's settings. Only Node built-ins here: the
// CLI imports this module before anything heavy.
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** The compiled worker. Under vitest this module runs from src/*.ts, so use the build. */
function workerUrl(): URL {
  const here = new URL('./block-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  return new URL(here.href.replace('/src/chunk/', '/dist/src/chunk/'));
}

export function defaultWorkerCount(): number {
  const env = process.env.BLOCKVAULT_WORKERS;
  if (env !== undefined && env !== '') return Math.max(0, Number(env) || 0);
  return Math.min(8, os.availableParallelism());
}

/** A started worker, and what went wrong with it before a pool took it. */
export interface StartedWorker {
  worker: Worker;
  failure: Error | undefined;
}

function spawn(): StartedWorker {
  // Small heaps: the blocks live in ArrayBuffers, not on the worker's heap, and V8's default
  // young generation (16+ MB a worker) showed up whole in peak RSS. With LZ4 and AES-GCM
  // writing into the block's buffers (the addon) a worker allocates next to nothing: 1 MB
  // instead of 4 took 5 MiB off the 2 GiB backup's peak (134 against 139 MiB, 3 runs each,
  // interleaved), no slower.
  const worker = new Worker(workerUrl(), { resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 64 } });
  worker.unref(); // a started worker that nothing adopts must not hold the process open
  const started: StartedWorker = { worker, failure: undefined };
  // Listened to from the start: an 'error' with no listener would end the process.
  worker.on('error', (e) => (started.failure ??= e));
  worker.on('exit', (code) => (started.failure ??= new Error(`block worker exited with code ${code}`)));
  return started;
}

const warm: StartedWorker[] = [];

/** Starts `n` block workers now (default: one per core) for the next BlockPool to adopt. */
export function prestartBlockWorkers(n = defaultWorkerCount()): void {
  while (warm.length < n) warm.push(spawn());
}

/** A started block worker: one started early if any is left, else a new one. */
export function takeBlockWorker(): StartedWorker {
  return warm.shift() ?? spawn();
}
