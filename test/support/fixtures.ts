import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import type { StepDeps } from '../../src/jobs/step-deps.ts';
import { buildStepDeps } from '../../src/worker.ts';
import {
  startSandbox,
  type Sandbox,
  type SandboxOptions,
} from '../../src/sandbox/sandbox.ts';
import type { Role } from '../../src/service.ts';
import { startTestService, testEnv, type TestService } from './service.ts';

export interface SandboxServiceOptions {
  sandbox?: SandboxOptions;
  env?: Record<string, string>;
  role?: Role;
  /** One sandbox and service for the whole suite instead of per test. */
  shared?: boolean;
}

/**
 * A fresh sandbox and service for each test of the calling suite. Read them
 * from the returned object inside the tests; a test may replace `service`.
 */
export function useSandboxService(options: SandboxServiceOptions = {}) {
  const context = {} as { sandbox: Sandbox; service: TestService };
  const [before, after] = options.shared
    ? [beforeAll, afterAll]
    : [beforeEach, afterEach];
  before(async () => {
    context.sandbox = await startSandbox(options.sandbox);
    context.service = await startTestService(
      testEnv(context.sandbox.env, options.env),
      options.role,
    );
  });
  after(async () => {
    await context.service.stop();
    await context.sandbox.close();
  });
  return context;
}

/**
 * A sandbox and the steps' dependencies, for calling a step function
 * directly (no queue, no worker), with one onboarding record in place.
 */
export function useStepDeps(onboarding: {
  onboardingId: string;
  userId: string;
}) {
  const context = {} as { sandbox: Sandbox; deps: StepDeps; redis: Redis };
  beforeEach(async () => {
    context.sandbox = await startSandbox();
    const env = testEnv(context.sandbox.env);
    process.env.STORAGE_EMULATOR_HOST = env.STORAGE_EMULATOR_HOST;
    const config = loadConfig(env);
    context.redis = new Redis(config.redisUrl);
    context.deps = buildStepDeps(config, context.redis, 'test');
    await context.deps.store.create({
      ...onboarding,
      email: `${onboarding.userId}@example.com`,
      name: undefined,
      eventId: 'e1',
    });
  });
  afterEach(async () => {
    context.deps.mailer.close();
    await context.deps.fivetran.close();
    context.redis.disconnect();
    await context.sandbox.close();
  });
  return context;
}
