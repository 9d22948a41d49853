import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startRedisProcess,
  type RedisProcess,
} from '../src/sandbox/redis-process.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { testEnv } from './support/service.ts';
import { spawnWorker, type WorkerProcess } from './support/worker-process.ts';

describe('start-up check of Redis', () => {
  let redis: RedisProcess | undefined;
  let sandbox: Sandbox | undefined;
  let worker: WorkerProcess | undefined;

  afterEach(async () => {
    await worker?.kill();
    await sandbox?.close();
    await redis?.remove();
  });

  async function startWithPolicy(policy: string): Promise<string> {
    redis = await startRedisProcess();
    const admin = new Redis(redis.url);
    await admin.config('SET', 'maxmemory-policy', policy);
    admin.disconnect();
    sandbox = await startSandbox();
    worker = await spawnWorker(testEnv(sandbox.env, { REDIS_URL: redis.url }));
    return worker.output();
  }

  it('warns when Redis may evict keys', async () => {
    const output = await startWithPolicy('allkeys-lru');
    expect(output).toContain('set maxmemory-policy noeviction');
    expect(output).toContain('"maxmemoryPolicy":"allkeys-lru"');
  });

  it('stays quiet when Redis never evicts', async () => {
    const output = await startWithPolicy('noeviction');
    expect(output).not.toContain('maxmemory-policy noeviction');
  });
});
