import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { KqkdError } from './errors.js';
import { fsErrorText, makeDirs } from './fs.js';

/** Fault injection for tests: called before every write system call of `writeFileAtomic`; a returned error is thrown. */
let writeFault: ((path: string) => NodeJS.ErrnoException | undefined) | undefined;

/** Tests only: make `writeFileAtomic` fail as the file system would (ENOSPC, EIO) for the paths `fault` picks; undefined resets. */
export function injectWriteFault(fault: ((path: string) => NodeJS.ErrnoException | undefined) | undefined): void {
  writeFault = fault;
}

/**
 * Appends all of `bytes` to the open file `fd` (the file at `path`): the streamed writes of feature files and caches.
 * A failure becomes a KqkdError naming the file, `what` it was for and the reason in words (no raw `ENOSPC: …, write`).
 * Honours `injectWriteFault` like `writeFileAtomic`.
 */
export function writeAllSync(fd: number, bytes: Uint8Array, path: string, what: string): void {
  let off = 0;
  try {
    while (off < bytes.byteLength) {
      const fault = writeFault?.(path);
      if (fault) throw fault;
      off += writeSync(fd, bytes, off, bytes.byteLength - off);
    }
  } catch (err) {
    throw new KqkdError(`file "${path}"`, `room and permission to write ${what}`, fsErrorText(err),
      'free some space there (or choose another folder), then run the same command again: finished work is kept');
  }
}

/** The temp-file names of `writeFileAtomic` (`.<name>.<pid>.<ms>.tmp`): debris of a process killed mid-write. */
const ATOMIC_TEMP = /^\..+\.(\d+)\.\d+\.tmp$/;

/** Whether a file name is a temp file of an atomic write (kqkd's own, never the user's). */
export function isAtomicTemp(name: string): boolean {
  return ATOMIC_TEMP.test(name);
}

/** The pid that wrote an atomic-write temp file, or undefined for any other name. */
export function atomicTempPid(name: string): number | undefined {
  const m = ATOMIC_TEMP.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Writes `data` to `path` atomically: temp file in the same folder, fsync, rename; creates parent folders.
 * Several chunks (e.g. a header and a large array) are written one after the other without concatenating them.
 * A failure (no space, I/O error, permissions) leaves the previous file as it was and becomes a KqkdError naming the
 * file and the reason in words.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const dir = dirname(path);
  makeDirs(dir, `file "${path}"`);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (err) {
    throw new KqkdError(`file "${path}"`, 'a file kqkd can write', fsErrorText(err));
  }
  let closed = false;
  try {
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.byteLength) {
        const fault = writeFault?.(path);
        if (fault) throw fault;
        off += writeSync(fd, chunk, off, chunk.byteLength - off);
      }
    }
    fsyncSync(fd);
    closeSync(fd);
    closed = true;
    renameSync(tmp, path);
  } catch (err) {
    if (!closed) closeSync(fd);
    rmSync(tmp, { force: true });
    if (err instanceof KqkdError) throw err;
    throw new KqkdError(`file "${path}"`, 'room and permission to write it (the previous version is kept)', fsErrorText(err));
  }
}
