import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { emailConnectCard } from '../../src/jobs/email-connect-card.ts';
import type { StepDeps } from '../../src/jobs/step-deps.ts';
import { createLogger } from '../../src/logger.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { buildStepDeps } from '../../src/worker.ts';
import { testEnv } from '../support/service.ts';

describe('email step run twice at once', () => {
  let sandbox: Sandbox;
  let redis: Redis;
  let deps: StepDeps;

  beforeEach(async () => {
    sandbox = await startSandbox();
    const config = loadConfig(testEnv(sandbox.env));
    redis = new Redis(config.redisUrl);
    deps = buildStepDeps(config, redis, 'test');
    await deps.store.create({
      onboardingId: 'onb_0123456789abcdef01234567',
      userId: 'twice',
      email: 'twice@example.com',
      name: undefined,
      eventId: 'e1',
    });
    await deps.store.recordConnection('onb_0123456789abcdef01234567', {
      connectionId: 'conn_1',
      packageId: 'pkg_1',
      connectCardUri: 'https://fivetran.com/connect-card/setup?auth=t',
    });
  });

  afterEach(async () => {
    deps.mailer.close();
    await deps.fivetran.close();
    redis.disconnect();
    await sandbox.close();
  });

  it('sends one email: the second run waits for the first one’s claim', async () => {
    const run = {
      onboardingId: 'onb_0123456789abcdef01234567',
      log: createLogger('silent'),
    };
    const outcomes = await Promise.allSettled([
      emailConnectCard(deps, run),
      emailConnectCard(deps, run),
    ]);

    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const [refused] = outcomes.filter((o) => o.status === 'rejected');
    expect((refused as PromiseRejectedResult).reason).toMatchObject({
      code: 'EMAIL_SEND_IN_PROGRESS',
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(sandbox.smtp.messages).toHaveLength(1);

    // Once the claim is released, a late run finds the email recorded.
    const late = await emailConnectCard(deps, run);
    expect(late.alreadySent).toBe(true);
    expect(sandbox.smtp.messages).toHaveLength(1);
  });
});
