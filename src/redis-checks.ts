import type { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

/**
 * Warns when Redis may evict keys under memory pressure: an evicted job or
 * onboarding record is a signup lost without a trace. Managed Redis often
 * forbids CONFIG GET, which is reported rather than treated as a failure.
 */
export async function warnIfRedisCanEvict(
  redis: Redis,
  log: Logger,
): Promise<void> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as
      | string[]
      | Record<string, string>;
    const policy = Array.isArray(reply)
      ? reply[1]
      : reply['maxmemory-policy'];
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
  }
}
