import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { connectionOptions, parseQueueUrl, reconnectDelayMs } from '../src/connection.js';
import { jobId, parseJobData, JOB_FORMAT, JOB_VERSION } from '../src/jobs.js';

describe('parseQueueUrl', () => {
  it('reads host, port, db, user, password and TLS; the display form hides the password', () => {
    expect(parseQueueUrl('redis://localhost')).toEqual({ host: 'localhost', port: 6379, db: 0, tls: false, display: 'redis://localhost' });
    expect(parseQueueUrl('rediss://kqkd:s%40cret@redis.lab:6380/3')).toEqual({
      host: 'redis.lab', port: 6380, db: 3, tls: true, username: 'kqkd', password: 's@cret', display: 'rediss://kqkd:***@redis.lab:6380/3',
    });
    expect(parseQueueUrl('redis://:pw@10.0.0.5:7000').password).toBe('pw');
    expect(parseQueueUrl('redis://[::1]:6379').host).toBe('::1');
  });

  // Every URL below but the first carries a password: no refusal may print it.
  const bad: [unknown, RegExp][] = [
    [undefined, /a Redis URL .* for --queue but received nothing/],
    ['localhost:6379', /for --queue but received the scheme "localhost:"/],
    ['http://u:s3cret-pw@redis:6379', /the scheme "http:" in "http:\/\/u:\*\*\*@redis:6379"/],
    ['redis://u:s3cret-pw@host/16', /a database number 0…15 .* for --queue but received "16" in "redis:\/\/u:\*\*\*@host\/16"/],
    ['redis://:s3cret-pw@host/x', /a database number .* received "x" in "redis:\/\/:\*\*\*@host\/x"/],
    ['redis://u:s3cret-pw@host/?tls=1', /query or fragment "\?tls=1" in "redis:\/\/u:\*\*\*@host\/\?tls=1"/],
    ['redis//u:s3cret-pw@host:6379', /for --queue but received "redis\/\/u:\*\*\*@host:6379"/],
    ['rediss://u:s3cret-pw@', /for --queue but received/],
  ];
  for (const [url, re] of bad) {
    it(`refuses ${JSON.stringify(url)} naming the flag, never printing the password`, () => {
      let err: unknown;
      try {
        parseQueueUrl(url, '--queue');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KqkdError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('s3cret');
    });
  }
});

describe('reconnecting', () => {
  it('backs off 0.5 s, 1 s, … 5 s and gives up once the waits reach the bound, calling onGiveUp once', () => {
    const gaveUp: number[] = [];
    const o = connectionOptions(parseQueueUrl('redis://h'), { maxWaitSeconds: 12, onGiveUp: (s) => gaveUp.push(s) });
    const delays: number[] = [];
    for (let attempt = 1; ; attempt++) {
      const d = o.retryStrategy(attempt);
      if (d === null) break;
      delays.push(d);
    }
    // 0.5 + 1 + 1.5 + 2 + 2.5 + 3 = 10.5 s < 12; + 3.5 = 14 s ≥ 12
    expect(delays).toEqual([500, 1000, 1500, 2000, 2500, 3000, 3500]);
    expect(gaveUp).toEqual([14]);
    expect(o.retryStrategy(9)).toBeNull();
    expect(gaveUp).toHaveLength(1);
    expect([1, 10, 11, 100].map(reconnectDelayMs)).toEqual([500, 5000, 5000, 5000]);
    expect(o.maxRetriesPerRequest).toBeNull();
  });
});

describe('job data', () => {
  const good = { format: JOB_FORMAT, version: JOB_VERSION, folder: '/shared/exp', experimentHash: 'abc', method: 'fkd-kq', seed: 1, runHash: 'def' };
  it('accepts what a coordinator writes; ids join the experiment and run hashes (no ":")', () => {
    expect(parseJobData(good)).toEqual(good);
    expect(jobId('abc', 'def')).toBe('abc-def');
  });
  it('carries a tuning run\'s rate; refuses a bad rate or tuning flag for good', () => {
    expect(parseJobData({ ...good, lr: 0.02, tuning: true })).toMatchObject({ lr: 0.02, tuning: true });
    for (const bad of [{ lr: 0 }, { lr: -1 }, { lr: 'fast' }, { tuning: 'yes' }]) {
      expect(() => parseJobData({ ...good, ...bad }), JSON.stringify(bad)).toThrow(/without a valid folder, experimentHash, method, seed, lr, tuning or runHash/);
    }
  });

  it('refuses another format or version for good, saying which', () => {
    expect(() => parseJobData({ ...good, version: 1 })).toThrow(/a job of format "kqkd-student-run" version 1; this kqkd worker runs kqkd-student-run version 2/);
    expect(() => parseJobData({ ...good, version: 1 })).toThrow(expect.objectContaining({ name: 'UnrecoverableError' }));
    expect(() => parseJobData({ ...good, folder: 'relative/path' })).toThrow(/without a valid folder/);
    expect(() => parseJobData(null)).toThrow(/a job of format undefined/);
  });
});
