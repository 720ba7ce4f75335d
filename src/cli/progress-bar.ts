// The operator's view of progress: a bar on stderr when it is a terminal (and not --quiet),
// else nothing (NDJSON on stdout with --json is the machine's view). The text is ours
// (human units, rate, ETA); cli-progress draws it and keeps the cursor tidy.
import type { ProgressEvent } from '../metrics/progress.js';
import { formatBytes } from '../metrics/units.js';

export interface ProgressView {
  update(e: ProgressEvent): void;
  /** Removes nothing, redraws never again; safe to call twice. */
  stop(): void;
}

const BAR_WIDTH = 30;

/** "1:05", "12:00:03"; "--" while there is no sane estimate yet. */
export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s >= 100 * 3600) return '>99h';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** Seconds left at the average rate so far; undefined in the first second or before any byte. */
export function etaSeconds(e: Pick<ProgressEvent, 'bytesDone' | 'bytesTotal' | 'elapsedMs'>): number | undefined {
  if (e.bytesDone >= e.bytesTotal) return 0;
  if (e.bytesDone <= 0 || e.elapsedMs < 1000) return undefined;
  return ((e.bytesTotal - e.bytesDone) * e.elapsedMs) / e.bytesDone / 1000;
}

/** One line: `backup  [████░░░] 26% | 68.0 MiB / 256.0 MiB | 32.4 MiB/s | ETA 0:06`. */
export function progressLine(label: string, e: ProgressEvent): string {
  const frac = e.bytesTotal > 0 ? Math.min(1, e.bytesDone / e.bytesTotal) : 1;
  const full = Math.round(frac * BAR_WIDTH);
  const bar = '█'.repeat(full) + '░'.repeat(BAR_WIDTH - full);
  const rate = e.elapsedMs > 0 ? (e.bytesDone * 1000) / e.elapsedMs : 0;
  return (
    `${label.padEnd(7)} [${bar}] ${String(Math.floor(frac * 100)).padStart(3)}% | ` +
    `${formatBytes(e.bytesDone)} / ${formatBytes(e.bytesTotal)} | ${formatBytes(Math.round(rate))}/s | ETA ${formatEta(etaSeconds(e))}`
  );
}

export async function progressBar(label: string, enabled: boolean): Promise<ProgressView> {
  if (!enabled || !process.stderr.isTTY) return { update() {}, stop() {} };
  const { default: cliProgress } = await import('cli-progress');
  let line = '';
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: () => line,
    hideCursor: true,
    clearOnComplete: false,
    linewrap: false,
  });
  let state: 'idle' | 'running' | 'stopped' = 'idle';
  return {
    update(e) {
      if (state === 'stopped') return; // late events after an error or Ctrl-C draw nothing
      line = progressLine(label, e);
      if (state === 'idle') {
        bar.start(Math.max(1, e.bytesTotal), e.bytesDone);
        state = 'running';
      } else bar.update(e.bytesDone);
    },
    stop() {
      if (state === 'running') bar.stop();
      state = 'stopped';
    },
  };
}
