// The image file at `image` as a backup source whose every read first awaits
// `beforeRead(start, end)`: the slow, paused and never-ending backups the process tests start
// (jobs listed and cancelled while running, kill -9 mid-way, GC inside a backup's window).
import { ImageFileSource } from '../../dist/src/source/image-source.js';

export async function delayedSource(image, beforeRead) {
  const src = await ImageFileSource.open(image);
  return {
    path: src.path,
    kind: src.kind,
    size: src.size,
    isHole: (a, b) => src.isHole(a, b),
    async read(start, end, buf) {
      await beforeRead(start, end);
      return src.read(start, end, buf);
    },
    checkUnchanged: () => src.checkUnchanged(),
    close: () => src.close(),
  };
}
