/**
 * The Redis a queue lives on, from a URL: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. The
 * connection reconnects on its own when Redis goes away (backing off up to 5 s between tries) and gives up after
 * `maxWaitSeconds` without Redis, so a worker or a coordinator stops with a clear error instead of hanging forever.
 */
import { KqkdError, RunFailedError } from '@kqkd/common';

export const DEFAULT_REDIS_PORT = 6379;
/** How long a worker or coordinator waits for Redis to come back before it stops (seconds). */
export const DEFAULT_REDIS_WAIT_SECONDS = 300;

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** The URL without its password, for messages and logs. */
  display: string;
}

/** Parses and checks a queue URL; `arg` names it in errors (e.g. --queue). */
export function parseQueueUrl(url: unknown, arg = 'queue'): RedisTarget {
  const expected = 'a Redis URL redis://[user:password@]host[:port][/db] (rediss:// for TLS)';
  if (typeof url !== 'string' || url.length === 0) throw new KqkdError(arg, expected, url === undefined ? 'nothing' : JSON.stringify(url));
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Unparsable, but it may still hold a password (redis//user:secret@host): never echo what sits before an @.
    throw new KqkdError(arg, expected, JSON.stringify(url.replace(/:[^:@/\s]*@/g, ':***@')));
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new KqkdError(arg, expected, `the scheme "${u.protocol}" in ${JSON.stringify(redact(u))}`);
  if (!u.hostname) throw new KqkdError(arg, expected, `no host in ${JSON.stringify(redact(u))}`);
  const port = u.port ? Number(u.port) : DEFAULT_REDIS_PORT;
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 15) throw new KqkdError(arg, 'a database number 0…15 after the host (…/db)', `"${dbText}" in ${JSON.stringify(redact(u))}`);
  if (u.search || u.hash) throw new KqkdError(arg, expected, `query or fragment "${u.search}${u.hash}" in ${JSON.stringify(redact(u))}`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''), port, db, tls: u.protocol === 'rediss:', display: redact(u),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}), ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

function redact(u: URL): string {
  const c = new URL(u.href);
  if (c.password) c.password = '***';
  return c.href.replace(/\/$/, '');
}

/** The reconnect back-off: 0.5 s, 1 s, … up to 5 s between tries. */
export const reconnectDelayMs = (attempt: number): number => Math.min(attempt * 500, 5000);

/**
 * ioredis options for a target (BullMQ creates its connections from them). After `maxWaitSeconds` of failed reconnects,
 * `onGiveUp` is called once and the connection stops trying.
 */
export function connectionOptions(t: RedisTarget, o: { maxWaitSeconds: number; onGiveUp: (seconds: number) => void }) {
  let gaveUp = false;
  return {
    host: t.host, port: t.port, db: t.db, ...(t.username ? { username: t.username } : {}), ...(t.password ? { password: t.password } : {}),
    ...(t.tls ? { tls: { servername: t.host } } : {}),
    // BullMQ's workers block on Redis; commands wait for the connection rather than failing after a few retries.
    maxRetriesPerRequest: null,
    retryStrategy: (attempt: number): number | null => {
      // attempt counts the tries since the connection was last up (ioredis resets it on connect).
      let waited = 0;
      for (let a = 1; a < attempt; a++) waited += reconnectDelayMs(a);
      if (waited >= o.maxWaitSeconds * 1000) {
        if (!gaveUp) {
          gaveUp = true;
          o.onGiveUp(waited / 1000);
        }
        return null;
      }
      return reconnectDelayMs(attempt);
    },
  };
}

/** The error a worker or coordinator stops with when Redis stays away (a failure of the run, not of its input: exit 1). */
export function redisGoneError(t: RedisTarget, seconds: number): KqkdError {
  return new RunFailedError('queue', `Redis at ${t.display} reachable`, `no connection for ${seconds.toFixed(0)} s`,
    'every run is checkpointed on disk; start the same command again when Redis is back');
}
