import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import type { StepDeps } from '../../src/jobs/step-deps.ts';
import { uploadPackage } from '../../src/jobs/upload-package.ts';
import { createLogger } from '../../src/logger.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { buildStepDeps } from '../../src/worker.ts';
import { testEnv } from '../support/service.ts';

const ONBOARDING_ID = 'onb_89abcdef0123456789abcdef';

describe('upload step run twice at once', () => {
  let sandbox: Sandbox;
  let redis: Redis;
  let deps: StepDeps;

  beforeEach(async () => {
    sandbox = await startSandbox();
    const env = testEnv(sandbox.env);
    process.env.STORAGE_EMULATOR_HOST = env.STORAGE_EMULATOR_HOST;
    const config = loadConfig(env);
    redis = new Redis(config.redisUrl);
    deps = buildStepDeps(config, redis, 'test');
    await deps.store.create({
      onboardingId: ONBOARDING_ID,
      userId: 'uploader',
      email: 'uploader@example.com',
      name: undefined,
      eventId: 'e1',
    });
  });

  afterEach(async () => {
    deps.mailer.close();
    await deps.fivetran.close();
    redis.disconnect();
    await sandbox.close();
  });

  it('keeps one package: the run that records second deletes its own', async () => {
    const run = { onboardingId: ONBOARDING_ID, log: createLogger('silent') };
    const [first, second] = await Promise.all([
      uploadPackage(deps, run),
      uploadPackage(deps, run),
    ]);

    const uploads = sandbox.fivetran.requests.filter(
      (request) => request.route === 'upload-package' && request.acted,
    );
    expect(uploads).toHaveLength(2);
    expect(first.packageId).toBe(second.packageId);
    expect([...sandbox.fivetran.packages.keys()]).toEqual([first.packageId]);
    expect((await deps.store.get(ONBOARDING_ID))?.packageId).toBe(
      first.packageId,
    );
  });
});
