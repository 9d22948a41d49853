import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startRedisProcess,
  type RedisProcess,
} from '../../src/sandbox/redis-process.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import {
  signup,
  startTestService,
  testEnv,
  type TestService,
} from '../support/service.ts';
import { waitFor } from '../support/wait-for.ts';

describe('HTTP intake while Redis is down', () => {
  let redis: RedisProcess;
  let sandbox: Sandbox;
  let service: TestService;

  beforeAll(async () => {
    redis = await startRedisProcess({ appendOnly: true });
    sandbox = await startSandbox();
    service = await startTestService(
      testEnv(sandbox.env, { REDIS_URL: redis.url }),
      'http',
    );
  });

  afterAll(async () => {
    await service.stop();
    await sandbox.close();
    await redis.remove();
  });

  it('answers 503, never 2xx, and accepts again once Redis is back', async () => {
    await redis.stop();
    const refused = await service.postSignup(signup(1));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');

    const status = await fetch(
      `${service.url}/signups/onb_ffffffffffffffffffffffff`,
      { headers: { authorization: `Bearer ${service.config.intakeToken}` } },
    );
    expect(status.status).toBe(503);
    const health = await fetch(`${service.url}/healthz`);
    expect(health.status).toBe(503);

    await redis.start();
    const accepted = await waitFor(
      () => service.postSignup(signup(1)),
      (response) => response.status !== 503,
      10_000,
      200,
    );
    expect(accepted.status).toBe(202);
    const { onboarding_id: id } = (await accepted.json()) as {
      onboarding_id: string;
    };
    expect((await service.store.get(id))?.state).toBe('queued');
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
  });
});
