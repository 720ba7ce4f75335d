// Progress for backup and restore: NDJSON lines with --json, else a bar on a terminal.
import type { ProgressEvent } from '../metrics/progress.js';
import type { Cancellation } from './context.js';
import type { OutputOpts } from './options.js';
import { progressBar } from './progress-bar.js';

export interface ProgressEmitter {
  everyBytes: number | undefined;
  onProgress(e: ProgressEvent): void;
  stop(): void;
}

export async function progressEmitter(opts: OutputOpts, label: string, cancel: Cancellation): Promise<ProgressEmitter> {
  const bar = await progressBar(label, !opts.json && !opts.quiet);
  cancel.onInterrupt(() => bar.stop()); // nothing redraws over the "cancelling" line or the error
  // Events come every 500 ms and every 64 MiB; BLOCKVAULT_PROGRESS_BYTES sets the byte step.
  const step = Number(process.env.BLOCKVAULT_PROGRESS_BYTES);
  return {
    everyBytes: Number.isFinite(step) && step > 0 ? step : undefined,
    onProgress(e) {
      if (opts.json) process.stdout.write(JSON.stringify(e) + '\n');
      else bar.update(e);
    },
    stop: () => bar.stop(),
  };
}
