// A read limit for the input: a backup that must not starve the disk it reads (a production
// volume) reads at most this many bytes per second on average. Holes cost nothing: only the
// data bytes a read returns are counted.
import type { BlockRead, BlockSource } from './image-source.js';
import { TokenBucket } from './token-bucket.js';

export function withReadLimit(source: BlockSource, bytesPerSec: number | undefined, signal?: AbortSignal): BlockSource {
  if (!bytesPerSec) return source;
  const bucket = new TokenBucket(bytesPerSec);
  return {
    get path() {
      return source.path;
    },
    get kind() {
      return source.kind;
    },
    get size() {
      return source.size;
    },
    get identity() {
      return source.identity;
    },
    isHole: (start, end) => source.isHole(start, end),
    async read(start: number, end: number, buf: Buffer): Promise<BlockRead> {
      const r = await source.read(start, end, buf);
      await bucket.take(r.dataBytes, signal);
      return r;
    },
    checkUnchanged: () => source.checkUnchanged(),
    close: () => source.close(),
  };
}
