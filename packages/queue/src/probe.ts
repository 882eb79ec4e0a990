/**
 * The queue's pre-flight: one short connection to the Redis of a queue URL, answering PING within a few seconds,
 * before a coordinator prepares anything or a worker waits for runs. Unreachable, refused, unknown host, a wrong
 * password or none where one is required all come back at once as a KqkdError in the user's terms (the URL without
 * its password, what was expected, what came, the way out), instead of the long `--redis-wait` meant for a Redis that
 * goes away later, ending in a raw `ECONNREFUSED` or `WRONGPASS` line.
 */
import { Redis } from 'ioredis';
import { KqkdError } from '@kqkd/common';
import type { RedisTarget } from './connection.js';

export const PROBE_SECONDS = 5;

/** What a Redis error means to the user. */
export function describeRedisError(err: Error & { code?: string }, t: RedisTarget): { received: string; wayOut: string } {
  const text = `${err.code ?? ''} ${err.message}`;
  if (/WRONGPASS|invalid username-password/i.test(text)) {
    return { received: 'a refusal: wrong user name or password (WRONGPASS)', wayOut: 'check the user and password in the URL (redis://user:password@host)' };
  }
  if (/NOAUTH|Authentication required/i.test(text)) {
    return { received: 'a refusal: this Redis requires a password (NOAUTH)', wayOut: 'put the password in the URL (redis://:password@host) or in KQKD_QUEUE' };
  }
  if (/ECONNREFUSED/.test(text)) return { received: `connection refused (nothing listens on ${t.host}:${t.port})`, wayOut: 'start redis-server there, or check the host and port' };
  if (/ENOTFOUND|EAI_AGAIN/.test(text)) return { received: `no host named "${t.host}"`, wayOut: 'check the host name' };
  if (/ETIMEDOUT|timed out|timeout/i.test(text)) return { received: `no answer within ${PROBE_SECONDS} s`, wayOut: 'check the host, the port, a firewall, and (for rediss://) that it speaks TLS' };
  if (/EHOSTUNREACH|ENETUNREACH/.test(text)) return { received: `no route to ${t.host}`, wayOut: 'check the network and the host' };
  return { received: err.message, wayOut: 'check the URL and that redis-server runs' };
}

/** Connects once, authenticates and PINGs; rejects with a KqkdError naming `arg` (e.g. --queue). Aborting ends it at once. */
export async function probeRedis(t: RedisTarget, o: { arg?: string; signal?: AbortSignal; seconds?: number } = {}): Promise<void> {
  const seconds = o.seconds ?? PROBE_SECONDS;
  if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted');
  const client = new Redis({
    host: t.host, port: t.port, db: t.db, ...(t.username ? { username: t.username } : {}), ...(t.password ? { password: t.password } : {}),
    ...(t.tls ? { tls: { servername: t.host } } : {}),
    lazyConnect: true, connectTimeout: seconds * 1000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false,
  });
  let lastError: (Error & { code?: string }) | undefined;
  client.on('error', (err: Error) => { lastError = err; });
  const fail = (err: Error & { code?: string }) => {
    const { received, wayOut } = describeRedisError(err, t);
    return new KqkdError(o.arg ?? 'queue', `a Redis reachable at ${t.display} that accepts this connection`, received, wayOut);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), seconds * 1000);
      const onAbort = () => reject(o.signal!.reason ?? new Error('aborted'));
      o.signal?.addEventListener('abort', onAbort, { once: true });
      client.connect().then(() => client.ping()).then(() => resolve(), (err: Error) => reject(lastError && /Connection is closed/.test(err.message) ? lastError : err))
        .finally(() => { clearTimeout(timer); o.signal?.removeEventListener('abort', onAbort); });
    });
  } catch (err) {
    if (o.signal?.aborted) throw err;
    throw fail(err as Error);
  } finally {
    client.disconnect();
  }
}
