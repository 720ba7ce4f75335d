// The operation's signal, for every store call made on its behalf. An operation (backup,
// restore, gc, list, a job, a CLI command…) runs under withOperationSignal(signal, …); a store
// call that is given no signal of its own takes that one, however deep in the vault it is
// made and from whatever timer the operation started (lease renewal, index flushes). So a
// cancel (Ctrl-C, SIGTERM, AbortController) ends a call in flight at once, even one that
// waits on a server that never answers, without a signal parameter on every vault method.
//
// Rules:
//  - a call's own signal wins over the operation's: pass one only if it follows the
//    operation's (it is that signal, or a controller aborted by it, such as a lane stopper);
//  - withOperationSignal(undefined, fn) keeps the signal already in effect;
//  - cleanup that must still happen after a cancel (a lease release, a last index segment, a
//    job's final record) runs under runDetached(ms, fn): its own short deadline, not the
//    cancelled signal.
import { AsyncLocalStorage } from 'node:async_hooks';
import { abortError } from '../errors.js';

const current = new AsyncLocalStorage<AbortSignal>();

/** Runs fn with `signal` as the operation's signal (undefined: the one in effect stays). */
export function withOperationSignal<T>(signal: AbortSignal | undefined, fn: () => T): T {
  return signal ? current.run(signal, fn) : fn();
}

/** The signal of the operation this code runs for, if any. */
export function operationSignal(): AbortSignal | undefined {
  return current.getStore();
}

/** The signal one store call honours: its own, else the operation's. */
export function callSignal(own: AbortSignal | undefined): AbortSignal | undefined {
  return own ?? current.getStore();
}

/** Rejects a call whose signal (its own, else the operation's) has aborted. */
export function throwIfCancelled(opts?: { signal?: AbortSignal | undefined }): void {
  const signal = callSignal(opts?.signal);
  if (signal?.aborted) throw abortError(signal.reason);
}

/** Cleanup bound: how long a lease release or a last index segment may take after a cancel
 *  or a failure (a hung server must not hold a cancelled operation for a whole call timeout). */
export const CLEANUP_TIMEOUT_MS = 3000;

/** Runs fn outside the operation's signal, under a deadline of its own: store calls in it
 *  end after `ms` (as "aborted") whatever the operation's signal says. */
export function runDetached<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  return current.run(AbortSignal.timeout(ms), fn);
}

/** Cleanup under the cleanup bound (runDetached with CLEANUP_TIMEOUT_MS). */
export function runCleanup<T>(fn: () => Promise<T>): Promise<T> {
  return runDetached(CLEANUP_TIMEOUT_MS, fn);
}

/** Cleanup that also runs on success (a job's final record, clearing a state record): under
 *  the signal in effect while `signal` stands; once it has aborted, under the cleanup bound. */
export function cleanupAfter<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  return signal?.aborted ? runCleanup(fn) : fn();
}
