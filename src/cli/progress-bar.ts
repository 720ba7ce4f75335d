// The operator's view of progress: a bar on stderr when it is a terminal, else nothing
// (NDJSON on stdout with --json is the machine's view).
import cliProgress from 'cli-progress';
import type { ProgressEvent } from '../metrics/progress.js';
import { formatBytes } from '../metrics/units.js';

export function progressBar(label: string): { update(e: ProgressEvent): void; stop(): void } {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {done} of {total} | {speed} MB/s | eta {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(e) {
      const payload = { done: formatBytes(e.bytesDone), total: formatBytes(e.bytesTotal), speed: e.throughputMBps.toFixed(1) };
      if (!started) {
        bar.start(Math.max(1, e.bytesTotal), e.bytesDone, payload);
        started = true;
      } else bar.update(e.bytesDone, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
