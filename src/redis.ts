import { Redis } from 'ioredis';
import type { ThrottledLog } from './log-throttle.ts';

/**
 * For workers and anything that may wait out a Redis outage: commands queue
 * until Redis is back. BullMQ requires maxRetriesPerRequest null here.
 */
export function createWorkerConnection(redisUrl: string): Redis {
  return new Redis(redisUrl, { maxRetriesPerRequest: null });
}

/**
 * Routes connection errors to the log. ioredis reconnects by itself; an
 * unhandled 'error' event would only print a stack trace per retry.
 */
export function logConnectionErrors(
  redis: Redis,
  log: ThrottledLog,
  role: string,
): Redis {
  redis.on('error', (error: Error) =>
    log(
      'warn',
      `redis:${role}`,
      { err: error, role },
      'redis connection error',
    ),
  );
  return redis;
}

/** Closes politely when connected; a dead link would wait forever on QUIT. */
export async function closeConnection(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    await redis.quit().catch(() => redis.disconnect());
  } else {
    redis.disconnect();
  }
}

/**
 * For the intake: a command fails at once while Redis is unreachable, so the
 * caller gets a 503 now instead of a request that hangs and maybe never
 * stores the signup.
 */
export function createIntakeConnection(redisUrl: string): Redis {
  return new Redis(redisUrl, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2000,
  });
}

/** Resolves once the connection is ready, or rejects after timeoutMs. */
export function waitUntilReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}
