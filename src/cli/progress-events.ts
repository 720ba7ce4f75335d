// Progress for long commands: NDJSON lines with --json (on stdout, or stderr when stdout
// carries data), else a bar on a terminal.
import type { ProgressEvent } from '../metrics/progress.js';
import { machineOutput, type Cancellation } from './context.js';
import type { OutputOpts } from './options.js';
import { progressBar, type BarFrame } from './progress-bar.js';

export interface ProgressEmitter<E = ProgressEvent> {
  everyBytes: number | undefined;
  onProgress(e: E): void;
  stop(): void;
}

/** `frame` draws the bar for events that are not byte progress (copy, export, import);
 *  `toJson` trims an event for its NDJSON line. */
export async function progressEmitter<E extends object = ProgressEvent>(
  opts: OutputOpts,
  label: string,
  cancel: Cancellation,
  frame?: (e: E) => BarFrame,
  toJson: (e: E) => object = (e) => e,
): Promise<ProgressEmitter<E>> {
  const bar = await progressBar<E>(label, !opts.json && !opts.quiet, frame);
  cancel.onInterrupt(() => bar.stop()); // nothing redraws over the "cancelling" line or the error
  // Events come every 500 ms and every 64 MiB; BLOCKVAULT_PROGRESS_BYTES sets the byte step.
  const step = Number(process.env.BLOCKVAULT_PROGRESS_BYTES);
  return {
    everyBytes: Number.isFinite(step) && step > 0 ? step : undefined,
    onProgress(e) {
      if (opts.json) machineOutput().write(JSON.stringify(toJson(e)) + '\n');
      else bar.update(e);
    },
    stop: () => bar.stop(),
  };
}
