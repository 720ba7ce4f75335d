// Runs replicate-run.mjs (the built library) in a child process and reads its JSON events.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'replicate-run.mjs');

export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  events: Record<string, any>[];
}

export interface Running {
  child: ChildProcess;
  /** Resolves with the first event that matches; rejects if the child ends first. */
  waitFor(pred: (e: Record<string, any>) => boolean): Promise<Record<string, any>>;
  kill(signal: NodeJS.Signals): void;
  done: Promise<Ended>;
}

export function startReplicate(args: string[], env: Record<string, string> = {}, opts: { eventsOn?: 'stdout' | 'stderr'; stdin?: 'pipe' | 'ignore' } = {}): Running {
  const child = spawn(process.execPath, [SCRIPT, ...args], { env: { ...process.env, ...env }, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  const events: Record<string, any>[] = [];
  const waiters: { pred: (e: Record<string, any>) => boolean; resolve: (e: Record<string, any>) => void }[] = [];
  let partial = '';
  const onText = (t: string) => {
    partial += t;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      const e = JSON.parse(l);
      events.push(e);
      for (const w of [...waiters]) if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    out.push(d);
    if ((opts.eventsOn ?? 'stdout') === 'stdout') onText(d.toString());
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d;
    if (opts.eventsOn === 'stderr') onText(d.toString());
  });
  const done = new Promise<Ended>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err, events })),
  );
  return {
    child,
    done,
    kill: (s) => child.kill(s),
    waitFor: (pred) =>
      new Promise((resolve, reject) => {
        const hit = events.find(pred);
        if (hit) return resolve(hit);
        waiters.push({ pred, resolve });
        void done.then((r) => reject(new Error(`child ended (code ${r.code}) before the awaited event: ${r.stderr.slice(-800)} ${JSON.stringify(r.events.slice(-2))}`)));
      }),
  };
}

export function runReplicate(args: string[], env: Record<string, string> = {}): Promise<Ended> {
  return startReplicate(args, env).done;
}
