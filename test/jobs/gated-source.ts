// A source that stops at a block read until released: a backup that is visibly running.
import { ImageFileSource } from '../../src/source/image-source.js';
import type { BlockSource } from '../../src/source/image-source.js';

export interface GatedSource {
  source: BlockSource;
  /** Resolves when the backup first reads (it has its lease and its job is RUNNING). */
  reached: Promise<void>;
  release(): void;
  /** Makes every read after the gate fail (a backend that breaks mid-run). */
  failAfterGate(message: string): void;
  close(): Promise<void>;
}

export async function gatedSource(image: string, opts: { gateAfterReads?: number } = {}): Promise<GatedSource> {
  const src = await ImageFileSource.open(image);
  let reads = 0;
  let open!: () => void;
  let reachedResolve!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const reached = new Promise<void>((r) => (reachedResolve = r));
  let failure: string | undefined;
  const source: BlockSource = {
    path: src.path,
    kind: src.kind,
    size: src.size,
    isHole: (a, b) => src.isHole(a, b),
    async read(start, end, buf) {
      if (reads++ >= (opts.gateAfterReads ?? 0)) {
        reachedResolve();
        await gate;
        if (failure) throw new Error(failure);
      }
      return src.read(start, end, buf);
    },
    checkUnchanged: () => src.checkUnchanged(),
    close: async () => {},
  };
  return {
    source,
    reached,
    release: () => open(),
    failAfterGate: (m) => {
      failure = m;
      open();
    },
    close: () => src.close(),
  };
}
