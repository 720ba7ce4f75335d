// The operation's signal and the cleanup bound, for the engine, the jobs and the CLI (the
// store layer holds them, src/store/operation-signal.ts, since every store call honours them).
export { CLEANUP_TIMEOUT_MS, cleanupAfter, operationSignal, runCleanup, runDetached, withOperationSignal } from '../store/operation-signal.js';
