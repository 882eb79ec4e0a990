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

/** The errno codes `systemError` words; others stay the runtime's own message. */
const SYSTEM_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EACCES', 'EPERM', 'EROFS', 'EMFILE', 'ENFILE', 'ECONNREFUSED', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND']);

/** The way out of a system fault, by errno code. */
function wayOut(code: string): string {
  switch (code) {
    case 'ENOSPC': case 'EDQUOT': return 'free some space there (or choose another folder), then run the same command again: finished work is kept and runs resume';
    case 'EACCES': case 'EPERM': case 'EROFS': return 'choose a folder you can write to, or fix its permissions';
    case 'EIO': return 'the device reported an error: check the disk, then run the same command again';
    case 'EMFILE': case 'ENFILE': return 'raise the open-file limit (ulimit -n) and run the same command again';
    default: return 'check that the server is reachable, then run the same command again';
  }
}

/**
 * A system fault (a full disk, a failing device, a refused connection, …) as a RunFailedError-like KqkdError in the
 * user's terms: the file or address, what was needed, what happened, the way out. Anything else comes back as it was.
 * Used at the edge of every command, so a fault deep in a library never reaches the user as `ENOSPC: …, write`.
 */
export function systemError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (err instanceof KqkdError || !e || typeof e.code !== 'string' || !SYSTEM_CODES.has(e.code)) return err;
  const where = e.path ? `file "${e.path}"` : e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : e.syscall ? `the system call ${e.syscall}` : 'the system';
  const network = ['ECONNREFUSED', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND'].includes(e.code);
  const what = network ? 'a reachable server' : e.syscall === 'open' || e.syscall === 'read' ? 'a file kqkd can read and write' : 'room and permission to write';
  const received = network ? `${e.code} (${e.message.replace(/^[A-Z]+:?\s*/, '')})` : fsErrorText(err);
  return new KqkdError(where, what, received, wayOut(e.code));
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
      // An honest margin: the estimate is of the main outputs; logs, pictures and temp files come on top.
      const need = Math.ceil(o.needBytes * 1.1) + 16 * 2 ** 20;
      if (free < need) {
        // Never "at least 0.08 GiB … with 0.08 GiB free": exact bytes when the rounded figures would read the same.
        const same = formatBytes(need) === formatBytes(free);
        const show = (b: number) => (same ? `${b.toLocaleString('en-US')} bytes` : formatBytes(b));
        throw new KqkdError(arg, `a folder with at least ${show(need)} free (${formatBytes(o.needBytes)} of outputs + 10 % + 16 MiB)`,
          `"${dir}" with ${show(free)} free`);
      }
    }
  } catch (err) {
    if (!existed) rmSync(target, { recursive: true, force: true });
    throw err;
  }
}

/** Bytes in a unit that keeps 3 significant digits: 512 B, 81.3 KiB, 9.31 MiB, 1.25 GiB. */
export function formatBytes(b: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = b;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${b} B` : `${v.toPrecision(3)} ${units[u]}`;
}
