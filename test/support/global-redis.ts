import type { TestProject } from 'vitest/node';
import { startRedisProcess } from '../../src/sandbox/redis-process.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/**
 * One private redis-server for the whole run, on a free port, so tests never
 * touch a Redis on 6379. Tests isolate themselves by queue prefix.
 */
export default async function setup(project: TestProject) {
  const redis = await startRedisProcess();
  project.provide('redisUrl', redis.url);
  return async () => {
    await redis.remove();
  };
}
