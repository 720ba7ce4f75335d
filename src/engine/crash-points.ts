// Test-only crash injection: BLOCKVAULT_CRASH_AT=<step> makes the process SIGKILL itself
// when it reaches the named step (e.g. "delete:after-rewrite", "gc:after-segment"), so the
// crash tests can stop delete, prune and GC between any two of their writes.
export function crashPoint(step: string): void {
  const at = process.env.BLOCKVAULT_CRASH_AT;
  if (at && at === step) process.kill(process.pid, 'SIGKILL');
}
