// The operator's view of progress: a bar on stderr when it is a terminal (and not --quiet),
// else nothing (NDJSON on stdout with --json is the machine's view). The text is ours
// (human units, rate, ETA); cli-progress draws it and keeps the cursor tidy.
import type { ProgressEvent } from '../metrics/progress.js';
import { formatBytes } from '../metrics/units.js';

export interface ProgressView<E = ProgressEvent> {
  update(e: E): void;
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

/** `label [████░░░] 26% | part | part`: the bar for a fraction done, then the given parts. */
export function barLine(label: string, frac: number, parts: string[]): string {
  const f = Math.max(0, Math.min(1, frac));
  const full = Math.round(f * BAR_WIDTH);
  const bar = '█'.repeat(full) + '░'.repeat(BAR_WIDTH - full);
  return [`${label.padEnd(7)} [${bar}] ${String(Math.floor(f * 100)).padStart(3)}%`, ...parts].join(' | ');
}

/** One line: `backup  [████░░░] 26% | 68.0 MiB / 256.0 MiB | 32.4 MiB/s | ETA 0:06`. */
export function progressLine(label: string, e: ProgressEvent): string {
  const frac = e.bytesTotal > 0 ? Math.min(1, e.bytesDone / e.bytesTotal) : 1;
  const rate = e.elapsedMs > 0 ? (e.bytesDone * 1000) / e.elapsedMs : 0;
  return barLine(label, frac, [
    `${formatBytes(e.bytesDone)} / ${formatBytes(e.bytesTotal)}`,
    `${formatBytes(Math.round(rate))}/s`,
    `ETA ${formatEta(etaSeconds(e))}`,
  ]);
}

/** What the bar shows for one event: its line and how far along it is. */
export interface BarFrame {
  line: string;
  done: number;
  total: number;
}

export const byteFrame = (label: string) => (e: ProgressEvent): BarFrame => ({ line: progressLine(label, e), done: e.bytesDone, total: e.bytesTotal });

export async function progressBar<E = ProgressEvent>(
  label: string,
  enabled: boolean,
  frame: (e: E) => BarFrame = byteFrame(label) as unknown as (e: E) => BarFrame,
): Promise<ProgressView<E>> {
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
      const f = frame(e);
      line = f.line;
      if (state === 'idle') {
        bar.start(Math.max(1, f.total), f.done);
        state = 'running';
      } else bar.update(f.done);
    },
    stop() {
      if (state === 'running') bar.stop();
      state = 'stopped';
    },
  };
}
