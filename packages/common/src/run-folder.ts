/**
 * Owning an output folder: a lock file (created atomically, holding the pid and the host) makes a second process on
 * the same folder refuse clearly, a stale lock of a dead process on this host is taken over, and a marker file says
 * which kind of kqkd output and which config the folder holds, so a folder with someone else's files (or another
 * run's) is refused unless forced.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { atomicTempPid, isAtomicTemp, writeFileAtomic } from './atomic.js';
import { FolderBusyError, KqkdError } from './errors.js';
import { checkOutputFolder, fsErrorText } from './fs.js';

export const LOCK_FILE = '.kqkd.lock';
export const MARKER_FILE = '.kqkd-folder.json';

interface LockInfo { pid: number; host: string; since: string; command: string; owner?: string }

/**
 * Whether `pid` is a live process. A zombie (killed, not yet reaped by its parent: state Z in /proc/<pid>/stat) still
 * answers kill(pid, 0) but holds nothing any more, so it counts as dead: its locks are stale.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc (not Linux): kill(pid, 0) is all there is
  }
}

export interface RunLock {
  /** Removes the lock (only if it is still this process's). Idempotent. */
  release(): void;
  /** Set when a stale lock of a dead process was taken over: whose it was. */
  tookOver?: LockInfo;
}

export interface RunLockOptions {
  /**
   * Who holds the lock beyond this process, e.g. a queue job (`queue-job:<id>`). A lock left on another host by a holder
   * of the same owner is taken over: the queue gives a job to one worker at a time, so when it hands the job to this
   * process, the earlier holder (a worker that died or lost the job) no longer owns it.
   */
  owner?: string;
}

/** Locks `dir` (which must exist) for this process; `arg` names the folder option in errors. */
export function acquireRunLock(dir: string, arg: string, o: RunLockOptions = {}): RunLock {
  const path = join(dir, LOCK_FILE);
  const me: LockInfo = {
    pid: process.pid, host: hostname(), since: new Date().toISOString(), command: process.argv.slice(1).join(' ').slice(0, 300), ...(o.owner ? { owner: o.owner } : {}),
  };
  let tookOver: LockInfo | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, `${JSON.stringify(me)}\n`);
      } finally {
        closeSync(fd);
      }
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.removeListener('exit', release);
        try {
          const now = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
          if (now.pid === me.pid && now.host === me.host) rmSync(path, { force: true });
        } catch {
          // gone already
        }
      };
      process.on('exit', release);
      return { release, ...(tookOver ? { tookOver } : {}) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new KqkdError(arg, 'a folder kqkd can write its lock file in', `"${dir}" (${fsErrorText(err)})`);
      }
    }
    let held: LockInfo;
    try {
      held = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    } catch {
      // a lock file without its content (the writer died between create and write): stale
      held = { pid: -1, host: me.host, since: 'unknown', command: 'unknown' };
    }
    const stale = (held.host === me.host && (held.pid < 0 || !processAlive(held.pid)))
      || (o.owner !== undefined && held.owner === o.owner && held.host !== me.host);
    if (!stale || attempt > 0) {
      throw new FolderBusyError(arg, 'a folder no other kqkd process is using',
        `"${dir}", locked by pid ${held.pid} on ${held.host} since ${held.since} (${held.command})`,
        `wait for it to finish; if that process is gone, delete ${path}`);
    }
    rmSync(path, { force: true });
    tookOver = held;
  }
  throw new KqkdError(arg, 'a lock on the folder', `"${dir}"`);
}

export interface FolderClaim {
  /** What the folder holds: 'train', 'experiment', 'score', 'eval'. */
  kind: string;
  /** The config it holds the outputs of (a hash); another one is refused unless `force`. */
  configHash: string;
  /** File names kqkd itself writes there (a folder holding only these, or nothing, needs no marker). */
  ownFiles: readonly string[];
  /** Take the folder even if it holds other files or another config's outputs. */
  force?: boolean;
  /** Without a marker: whether the folder's files are this config's, written by an earlier kqkd (then it is claimed). */
  adopt?: () => boolean;
}

/**
 * Claims `dir` for a kind of output and a config: an empty folder, or one whose marker says the same kind and config,
 * is fine (resuming); a marker of another config, or files kqkd did not write, is refused unless `force`. Writes the
 * marker. Returns whether the folder already held this config's outputs.
 */
export function claimFolder(dir: string, arg: string, c: FolderClaim): { resumed: boolean } {
  const path = join(dir, MARKER_FILE);
  // A process killed in the middle of an atomic write leaves its temp file; the caller holds the folder's lock, so
  // another process's temp files here are debris (the files they were for are intact).
  for (const n of readdirSync(dir)) {
    const pid = atomicTempPid(n);
    if (pid !== undefined && pid !== process.pid) rmSync(join(dir, n), { force: true });
  }
  if (existsSync(path)) {
    let marker: { kind?: string; configHash?: string } = {};
    try {
      marker = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      // unreadable marker: treated as foreign content below
    }
    if (marker.kind === c.kind && marker.configHash === c.configHash) return { resumed: true };
    if (!c.force) {
      throw new KqkdError(arg, `an empty folder or one holding this ${c.kind} (config ${c.configHash})`,
        `"${dir}", which holds ${marker.kind ?? 'unknown'} outputs of config ${marker.configHash ?? 'unknown'}`,
        'choose another folder, or pass --force to write over it');
    }
  } else if (!(c.adopt?.() ?? false)) {
    const foreign = readdirSync(dir).filter((n) => n !== LOCK_FILE && !n.startsWith('.kqkd-write-probe') && !isAtomicTemp(n) && !c.ownFiles.includes(n));
    const ours = readdirSync(dir).filter((n) => c.ownFiles.includes(n));
    if ((foreign.length > 0 || ours.length > 0) && !c.force) {
      const list = [...foreign, ...ours].slice(0, 5).map((n) => `"${n}"`).join(', ');
      throw new KqkdError(arg, 'an empty folder or one kqkd made for this run', `"${dir}", which holds files kqkd did not write for it (${list})`,
        'choose another folder, or pass --force to write over them');
    }
  }
  writeFileAtomic(path, `${JSON.stringify({ format: 'kqkd-folder', kind: c.kind, configHash: c.configHash }, null, 2)}\n`);
  return { resumed: false };
}

export interface OwnedFolder {
  lock: RunLock;
  /** Whether the folder already held this config's outputs (a resumed run). */
  resumed: boolean;
  /** Releases the lock. */
  release(): void;
  /**
   * After a refusal (an input error before any output was written): removes what taking the folder wrote — the whole
   * folder if it did not exist before, else the marker if it was new — and releases the lock.
   */
  rollback(): void;
}

/**
 * Checks (`checkOutputFolder`), locks and claims an output folder before any work; `arg` names it in errors. On
 * failure nothing is left behind.
 */
export function ownFolder(dir: string, arg: string, claim: FolderClaim, o: { needBytes?: number; lockOwner?: string } = {}): OwnedFolder {
  const existed = existsSync(dir);
  const markerExisted = existsSync(join(dir, MARKER_FILE));
  checkOutputFolder(dir, arg, o);
  let lock: RunLock;
  try {
    lock = acquireRunLock(dir, arg, o.lockOwner ? { owner: o.lockOwner } : {});
  } catch (err) {
    if (!existed) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const rollback = () => {
    lock.release();
    if (!existed) rmSync(dir, { recursive: true, force: true });
    else if (!markerExisted) rmSync(join(dir, MARKER_FILE), { force: true });
  };
  try {
    const { resumed } = claimFolder(dir, arg, claim);
    return { lock, resumed, release: () => lock.release(), rollback };
  } catch (err) {
    rollback();
    throw err;
  }
}
