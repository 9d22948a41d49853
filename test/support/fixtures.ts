import { afterEach, beforeEach } from 'vitest';
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
}

/**
 * A fresh sandbox and service for each test of the calling suite. Read them
 * from the returned object inside the tests; a test may replace `service`.
 */
export function useSandboxService(options: SandboxServiceOptions = {}) {
  const context = {} as { sandbox: Sandbox; service: TestService };
  beforeEach(async () => {
    context.sandbox = await startSandbox(options.sandbox);
    context.service = await startTestService(
      testEnv(context.sandbox.env, options.env),
      options.role,
    );
  });
  afterEach(async () => {
    await context.service.stop();
    await context.sandbox.close();
  });
  return context;
}
