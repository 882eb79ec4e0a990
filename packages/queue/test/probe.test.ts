/**
 * The queue's pre-flight (probe.ts) against real redis-servers: one that wants a password (none given, a wrong one,
 * the right one) and a closed port. Each refusal comes within the probe's few seconds, in words (no raw WRONGPASS /
 * ECONNREFUSED), never printing the password; an aborted probe ends at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { parseQueueUrl } from '../src/connection.js';
import { probeRedis } from '../src/probe.js';
import { freePort, startRedis } from '../../../test/support/redis-server.js';

let redis: Awaited<ReturnType<typeof startRedis>>;
beforeAll(async () => { redis = await startRedis(['--requirepass', 'sekret']); }, 60_000);
afterAll(() => redis?.stop());

const refusal = async (url: string) => {
  const t0 = performance.now();
  const err = await probeRedis(parseQueueUrl(url), { arg: '--queue' }).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(KqkdError);
  expect((err as KqkdError).argument).toBe('--queue');
  expect((err as Error).message).not.toContain('sekret');
  expect((err as Error).message).not.toContain('wrong-one');
  return { err: err as KqkdError, ms: performance.now() - t0 };
};

describe('probeRedis', () => {
  it('accepts a Redis that answers with the right password', async () => {
    await expect(probeRedis(parseQueueUrl(`redis://:sekret@127.0.0.1:${redis.port}`))).resolves.toBeUndefined();
  });

  it('a wrong password: refused in words (WRONGPASS), the URL shown without it', async () => {
    const { err } = await refusal(`redis://:wrong-one@127.0.0.1:${redis.port}`);
    expect(err.expected).toBe(`a Redis reachable at redis://:***@127.0.0.1:${redis.port} that accepts this connection`);
    expect(err.received).toBe('a refusal: wrong user name or password (WRONGPASS)');
  });

  it('no password where one is required: refused (NOAUTH)', async () => {
    const { err } = await refusal(`redis://127.0.0.1:${redis.port}`);
    expect(err.received).toBe('a refusal: this Redis requires a password (NOAUTH)');
  });

  it('nothing listening: connection refused, within the probe\'s seconds', async () => {
    const port = await freePort();
    const { err, ms } = await refusal(`redis://127.0.0.1:${port}`);
    expect(err.received).toBe(`connection refused (nothing listens on 127.0.0.1:${port})`);
    expect(err.detail).toMatch(/start redis-server there/);
    expect(ms).toBeLessThan(60_000); // bounded by the probe, not by --redis-wait (300 s)
  });

  it('an abort ends the probe with the abort\'s reason', async () => {
    const c = new AbortController();
    c.abort(new Error('stopped by the user'));
    await expect(probeRedis(parseQueueUrl(`redis://:sekret@127.0.0.1:${redis.port}`), { signal: c.signal })).rejects.toThrow('stopped by the user');
  });
});
