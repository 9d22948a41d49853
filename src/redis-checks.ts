import type { Logger } from './logger.ts';
import { createIntakeConnection, waitUntilReady } from './redis.ts';

/**
 * Warns when Redis may evict keys under memory pressure: an evicted job or
 * onboarding record is a signup lost without a trace. Managed Redis often
 * forbids CONFIG GET, which is reported rather than treated as a failure.
 */
export async function warnIfRedisCanEvict(
  redisUrl: string,
  log: Logger,
): Promise<void> {
  // Fail-fast connection: a Redis that is down at start must not stall it.
  const redis = createIntakeConnection(redisUrl);
  redis.on('error', () => {});
  try {
    await waitUntilReady(redis, 5000);
    const reply = (await redis.config('GET', 'maxmemory-policy')) as
      string[] | Record<string, string>;
    const policy = Array.isArray(reply) ? reply[1] : reply['maxmemory-policy'];
    if (policy !== 'noeviction') {
      log.warn(
        { maxmemoryPolicy: policy },
        'redis may evict keys; set maxmemory-policy noeviction',
      );
    }
  } catch (error) {
    log.warn(
      { err: error },
      'could not read maxmemory-policy; make sure it is noeviction',
    );
  } finally {
    redis.disconnect();
  }
}
