import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { createOnboardingStore } from '../../src/onboarding/store.ts';
import {
  startService,
  type Role,
  type RunningService,
} from '../../src/service.ts';

export const INTAKE_TOKEN = 'test-intake-token-0123456789';
export const BOARD_USER = 'operator';
export const BOARD_PASSWORD = 'board-password-123';

/** A unique, cluster-safe queue prefix per test. */
export function uniquePrefix(): string {
  return `{t-${randomUUID().slice(0, 8)}}`;
}

/** The environment a test service runs with; sandbox values first. */
export function testEnv(
  sandboxEnv: Record<string, string>,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    REDIS_URL: inject('redisUrl'),
    QUEUE_PREFIX: uniquePrefix(),
    CONNECTOR_SECRET_KEYS: 'API_KEY,API_SECRET',
    CONNECT_CARD_REDIRECT_URI: 'https://app.example.com/fivetran/return',
    INTAKE_TOKEN,
    BOARD_USER,
    BOARD_PASSWORD,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    STEP_BACKOFF_MS: '100',
    ...sandboxEnv,
    ...overrides,
  };
}

/**
 * Stand-ins for the outside services' variables, for a process that never
 * reaches them (it only starts, or its Redis is down).
 */
export const UNREACHED_SERVICES_ENV: Record<string, string> = {
  FIVETRAN_API_KEY: 'key',
  FIVETRAN_API_SECRET: 'secret',
  FIVETRAN_GROUP_ID: 'group',
  CONNECTOR_PACKAGE: 'gs://bucket/connector.zip',
  SMTP_URL: 'smtp://127.0.0.1:9',
  MAIL_FROM: 'onboarding@example.com',
};

export interface TestService {
  config: Config;
  service: RunningService;
  url: string;
  redis: Redis;
  store: ReturnType<typeof createOnboardingStore>;
  postSignup(body: unknown, token?: string): Promise<Response>;
  stop(): Promise<void>;
}

export async function startTestService(
  env: Record<string, string>,
  role: Role = 'all',
): Promise<TestService> {
  // The GCS client reads this from the process environment itself.
  if (env.STORAGE_EMULATOR_HOST) {
    process.env.STORAGE_EMULATOR_HOST = env.STORAGE_EMULATOR_HOST;
  }
  const config = loadConfig(env);
  const log = createLogger(config.logLevel);
  const service = await startService(config, log, role);
  const redis = new Redis(config.redisUrl);
  redis.on('error', () => {});
  const url = service.url ?? '';
  return {
    config,
    service,
    url,
    redis,
    store: createOnboardingStore(redis, config.queuePrefix),
    postSignup(body, token = INTAKE_TOKEN) {
      return fetch(`${url}/signups`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify(body),
      });
    },
    async stop() {
      await service.stop();
      redis.disconnect();
    },
  };
}

export function signup(n: number, extra: Record<string, unknown> = {}) {
  return {
    event_id: `evt-${n}-${randomUUID().slice(0, 6)}`,
    user: { id: `user-${n}`, email: `user${n}@example.com`, name: `User ${n}` },
    ...extra,
  };
}
