import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/**
 * Writes `data` to `path` atomically: temp file in the same folder, fsync, rename; creates parent folders.
 * Several chunks (e.g. a header and a large array) are written one after the other without concatenating them.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  const fd = openSync(tmp, 'w');
  let closed = false;
  try {
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.byteLength) off += writeSync(fd, chunk, off, chunk.byteLength - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    closed = true;
    renameSync(tmp, path);
  } catch (err) {
    if (!closed) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}
