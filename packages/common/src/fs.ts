/**
 * File-system checks and errors in the user's terms: output folders are checked before any work (special file
 * systems, creatable, a folder, writable, roughly enough free space), folders are created without Node's recursive
 * mkdir (which loops forever under /proc), and errno codes become sentences.
 */
import { accessSync, constants, existsSync, mkdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KqkdError } from './errors.js';

/** Virtual file systems where no output belongs. */
const SPECIAL_ROOTS = ['/proc', '/sys', '/dev'];

/** A sentence for an errno code (what the user can act on), or the error's own message. */
export function fsErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'ENOSPC': return 'no space left on the device';
    case 'EDQUOT': return 'the disk quota is exceeded';
    case 'EROFS': return 'a read-only file system';
    case 'EIO': return 'an input/output error of the device';
    case 'ENOTDIR': return 'a part of the path is a file, not a folder';
    case 'EISDIR': return 'a folder where a file was expected';
    case 'ENOENT': return 'it does not exist';
    case 'EEXIST': return 'it already exists';
    case 'ENAMETOOLONG': return 'the name is too long';
    case 'EMFILE': case 'ENFILE': return 'too many open files';
    default: return err instanceof Error ? err.message : String(err);
  }
}

/** Whether `path` lies on a virtual file system (/proc, /sys, /dev). */
export function isSpecialPath(path: string): boolean {
  const p = resolve(path);
  return SPECIAL_ROOTS.some((r) => p === r || p.startsWith(`${r}/`));
}

/**
 * Creates `dir` and its missing parents one level at a time. `arg` names the option in errors.
 */
export function makeDirs(dir: string, arg: string): void {
  const target = resolve(dir);
  if (isSpecialPath(target)) throw new KqkdError(arg, 'a folder on a real file system', `"${dir}" (under ${SPECIAL_ROOTS.join(', ')})`);
  const missing: string[] = [];
  let p = target;
  while (!existsSync(p)) {
    missing.push(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  if (existsSync(p) && !statSync(p).isDirectory()) throw new KqkdError(arg, 'a folder', `"${dir}" (${p} is a file)`);
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(m).isDirectory()) continue;
      throw new KqkdError(arg, 'a folder kqkd can create', `"${dir}" (${fsErrorText(err)} at ${m})`);
    }
  }
}

export interface OutputFolderOptions {
  /** Roughly how many bytes the command will write; refused when the file system has less free. */
  needBytes?: number;
}

/**
 * Checks, before any work, that `dir` can hold a command's outputs: not on a virtual file system, creatable, a
 * folder, writable, with roughly `needBytes` free. Creates it (an empty folder is all a refusal leaves behind only
 * when it did not exist: then it is removed again).
 */
export function checkOutputFolder(dir: string, arg: string, o: OutputFolderOptions = {}): void {
  const target = resolve(dir);
  const existed = existsSync(target);
  makeDirs(target, arg);
  try {
    if (!statSync(target).isDirectory()) throw new KqkdError(arg, 'a folder', `"${dir}" (a file)`);
    try {
      accessSync(target, constants.W_OK);
      const probe = join(target, `.kqkd-write-probe-${process.pid}`);
      writeFileSync(probe, 'ok');
      rmSync(probe, { force: true });
    } catch (err) {
      throw new KqkdError(arg, 'a folder kqkd can write to', `"${dir}" (${fsErrorText(err)})`);
    }
    if (o.needBytes !== undefined) {
      const s = statfsSync(target);
      const free = Number(s.bavail) * Number(s.bsize);
      if (free < o.needBytes) {
        const gb = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
        throw new KqkdError(arg, `a folder with about ${gb(o.needBytes)} free for the outputs`, `"${dir}" with ${gb(free)} free`);
      }
    }
  } catch (err) {
    if (!existed) rmSync(target, { recursive: true, force: true });
    throw err;
  }
}
