// The run lock: refused while a live process holds it, taken over from a dead process on this host, never taken
// from another host — unless both holders run the same queue job (the queue gave the job to this process).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { acquireRunLock, FolderBusyError, isAtomicTemp, LOCK_FILE, MARKER_FILE, ownFolder, processAlive } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function folderWithLock(name: string, holder: Record<string, unknown>): string {
  const dir = join(root, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ since: '2026-01-01T00:00:00Z', command: 'kqkd worker', ...holder }));
  return dir;
}
/** A pid no process has (above the kernel's pid_max default). */
const DEAD_PID = 4_194_304 + 7;

describe('acquireRunLock', () => {
  it('refuses a folder a live process holds (FolderBusyError naming it), and writes this process in a free one', () => {
    const dir = folderWithLock('live', { pid: process.ppid, host: hostname() });
    expect(() => acquireRunLock(dir, 'out')).toThrow(FolderBusyError);
    expect(() => acquireRunLock(dir, 'out')).toThrow(new RegExp(`a folder no other kqkd process is using for out but received "${dir}", locked by pid ${process.ppid} on ${hostname()}`));
    rmSync(join(dir, LOCK_FILE));
    const lock = acquireRunLock(dir, 'out', { owner: 'queue-job:j1' });
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, host: hostname(), owner: 'queue-job:j1' });
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('takes over the lock of a dead process on this host, saying whose it was', () => {
    const dir = folderWithLock('dead', { pid: DEAD_PID, host: hostname() });
    const lock = acquireRunLock(dir, 'out');
    expect(lock.tookOver).toMatchObject({ pid: DEAD_PID, host: hostname() });
    lock.release();
  });

  it('never takes a lock from another host, except one held for the same queue job', () => {
    const other = folderWithLock('other-host', { pid: 12, host: 'worker-7', owner: 'queue-job:j1' });
    expect(() => acquireRunLock(other, 'out')).toThrow(/locked by pid 12 on worker-7/);
    expect(() => acquireRunLock(other, 'out', { owner: 'queue-job:j2' })).toThrow(/locked by pid 12 on worker-7/);
    const lock = acquireRunLock(other, 'out', { owner: 'queue-job:j1' });
    expect(lock.tookOver).toMatchObject({ pid: 12, host: 'worker-7', owner: 'queue-job:j1' });
    lock.release();
    // …but not from a live process of the same job on this host (the job's earlier holder is still training).
    const here = folderWithLock('same-host', { pid: process.ppid, host: hostname(), owner: 'queue-job:j1' });
    expect(() => acquireRunLock(here, 'out', { owner: 'queue-job:j1' })).toThrow(FolderBusyError);
  });
});

describe('ownFolder after a kill in the middle of an atomic write', () => {
  it('the temp file another (killed) process left is debris: removed, and the folder is claimed; a user file is still refused', () => {
    const dir = join(root, 'debris');
    mkdirSync(dir);
    const claim = { kind: 'train', configHash: 'abc', ownFiles: ['metrics.jsonl'] };
    // what writeFileAtomic leaves when SIGKILL comes between its open and its rename (here: the folder marker)
    const debris = `.${MARKER_FILE}.${DEAD_PID}.1796368923380.tmp`;
    writeFileSync(join(dir, debris), '{"format":"kqkd-fo');
    expect(isAtomicTemp(debris)).toBe(true);
    expect(isAtomicTemp('notes.tmp')).toBe(false);
    const owned = ownFolder(dir, 'runDir', claim);
    expect(owned.resumed).toBe(false);
    expect(existsSync(join(dir, debris))).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, MARKER_FILE), 'utf8'))).toMatchObject({ kind: 'train', configHash: 'abc' });
    owned.release();

    const other = join(root, 'user-file');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.tmp'), 'mine');
    expect(() => ownFolder(other, 'runDir', claim)).toThrow(/files kqkd did not write for it \("notes\.tmp"\)/);
  });
});

describe('a zombie holder', () => {
  it('counts as dead (state Z in /proc): kill(pid, 0) still answers, but its lock is taken over', async () => {
    // A parent that forks a child which exits at once and is never reaped: a zombie while the parent sleeps.
    const parent = spawn('perl', ['-e', '$| = 1; my $pid = fork(); if ($pid == 0) { exit 0 } print "$pid\\n"; sleep 60;'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const zombie = Number(await new Promise<string>((res) => parent.stdout!.once('data', (d) => res(String(d).trim()))));
      let state = '';
      for (let i = 0; i < 100 && state !== 'Z'; i++) {
        const stat = readFileSync(`/proc/${zombie}/stat`, 'utf8');
        state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if (state !== 'Z') await new Promise((r) => setTimeout(r, 50));
      }
      expect(state).toBe('Z');
      expect(() => process.kill(zombie, 0)).not.toThrow(); // what the old check saw: "alive"
      expect(processAlive(zombie)).toBe(false);
      expect(processAlive(process.pid)).toBe(true);
      const dir = folderWithLock('zombie', { pid: zombie, host: hostname() });
      const lock = acquireRunLock(dir, 'out');
      expect(lock.tookOver?.pid).toBe(zombie);
      lock.release();
    } finally {
      parent.kill('SIGKILL');
    }
  }, 30_000);
});
