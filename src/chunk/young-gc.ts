// Frees dead chunk buffers soon. Chunk buffers live outside V8's heap (Buffers, lz4-napi's
// outputs) and are freed only when their small JS wrappers are collected; a thread that
// allocates little else lets V8 wait until tens of MiB of external memory have piled up, and
// that pile was most of peak RSS. The wrappers die young, so a minor collection (a scavenge of
// the small young generation, well under a millisecond) frees them as well as a full one.
// `gc` comes from a fresh context made after --expose-gc is set: neither a Worker's execArgv
// nor a CLI's shebang can carry V8 flags.
import v8 from 'node:v8';
import vm from 'node:vm';

let collect: ((opts?: { type: 'minor' | 'major' }) => void) | undefined;

function minorGc(): void {
  if (!collect) {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as (opts?: { type: 'minor' | 'major' }) => void;
  }
  collect({ type: 'minor' });
}

/** Counts bytes of chunk buffers made dead, and scavenges every `everyBytes`. */
export class YoungCollector {
  #since = 0;
  constructor(readonly everyBytes: number) {}

  /** bytes of buffers this thread just dropped (or is about to). */
  dropped(bytes: number): void {
    this.#since += bytes;
    if (this.#since >= this.everyBytes) {
      this.#since = 0;
      minorGc();
    }
  }

  /** Scavenges now (a block-sized buffer was just dropped). */
  now(): void {
    this.#since = 0;
    minorGc();
  }
}
