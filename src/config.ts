import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { parseRateLimit, type RateLimit } from './fivetran/rate-limit.ts';
import { DEFAULT_QUEUE_PREFIX, DEFAULT_STEP_SETTINGS } from './queues/index.ts';

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;

const SCHEMA_PREFIX_PATTERN = /^[_a-z][_a-z0-9]*$/;

const nonEmpty = z.string().trim().min(1, 'is required');

const urlWithProtocols = (protocols: string[]) =>
  nonEmpty.refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a ${protocols.join(' or ')}// URL` },
  );

const gcsObjectUrl = nonEmpty.transform((value, ctx) => {
  const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(value);
  if (!match) {
    ctx.addIssue({
      code: 'custom',
      message: 'must look like gs://bucket/path/connector.zip',
    });
    return z.NEVER;
  }
  return { bucket: match[1] as string, object: match[2] as string };
});

const rateLimitSpec = (fallback: string) =>
  z
    .string()
    .trim()
    .default(fallback)
    .transform((value, ctx) => {
      try {
        return parseRateLimit(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });

const durationMs = (fallbackMs: number, minimumMs = 0) =>
  z.coerce
    .number('must be a whole number of milliseconds')
    .int('must be a whole number of milliseconds')
    .min(minimumMs, `must be at least ${minimumMs} ms`)
    .default(fallbackMs);

const positiveInt = (fallback: number) =>
  z.coerce
    .number('must be a whole number')
    .int('must be a whole number')
    .positive('must be at least 1')
    .default(fallback);

const secretKeyList = nonEmpty.transform((value, ctx) => {
  const keys = value
    .split(',')
    .map((key) => key.trim())
    .filter(Boolean);
  if (keys.length === 0 || new Set(keys).size !== keys.length) {
    ctx.addIssue({
      code: 'custom',
      message: 'must list distinct keys, comma-separated',
    });
    return z.NEVER;
  }
  return keys;
});

const envSchema = z.object({
  REDIS_URL: urlWithProtocols(['redis:', 'rediss:']),
  // The braces make every key hash to one Redis Cluster slot, which the
  // multi-key Lua scripts of BullMQ and of the budget need.
  QUEUE_PREFIX: z
    .string()
    .trim()
    .regex(/\{[^{}]+\}/, 'must contain a {hash tag}, e.g. {ccw}')
    .default(DEFAULT_QUEUE_PREFIX),
  FIVETRAN_API_URL: urlWithProtocols(['https:', 'http:']).default(
    'https://api.fivetran.com',
  ),
  FIVETRAN_API_KEY: nonEmpty,
  FIVETRAN_API_SECRET: nonEmpty,
  FIVETRAN_GROUP_ID: nonEmpty,
  FIVETRAN_TIMEOUT_MS: durationMs(60 * SECOND_MS, SECOND_MS),
  FIVETRAN_RATE_LIMIT: rateLimitSpec('20000/1h'),
  FIVETRAN_CREATE_RATE_LIMIT: rateLimitSpec('20/1m'),
  FIVETRAN_MAX_RATE_LIMIT_WAIT_MS: durationMs(2 * HOUR_MS),
  CONNECTOR_PACKAGE: gcsObjectUrl,
  CONNECTOR_SECRET_KEYS: secretKeyList,
  CONNECTOR_PYTHON_VERSION: z
    .string()
    .trim()
    .regex(/^3\.\d+$/, 'must look like 3.13')
    .optional(),
  CONNECTOR_SCHEMA_PREFIX: z
    .string()
    .trim()
    .regex(SCHEMA_PREFIX_PATTERN, 'must match ^[_a-z][_a-z0-9]*$')
    .max(40)
    .default('ccw'),
  CONNECT_CARD_REDIRECT_URI: urlWithProtocols(['https:', 'http:']),
  SMTP_URL: urlWithProtocols(['smtp:', 'smtps:']),
  MAIL_FROM: nonEmpty.regex(
    /[^\s@<>]+@[^\s@<>]+/,
    'must hold an address, e.g. Onboarding <onboarding@example.com>',
  ),
  PORT: z.coerce
    .number('must be a port number')
    .int('must be a port number')
    .min(0, 'must be a port number')
    .max(65535, 'must be a port number')
    .default(3000),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  INTAKE_TOKEN: nonEmpty.min(16, 'must be at least 16 characters'),
  BOARD_USER: nonEmpty,
  BOARD_PASSWORD: nonEmpty.min(8, 'must be at least 8 characters'),
  STEP_ATTEMPTS: positiveInt(DEFAULT_STEP_SETTINGS.attempts),
  STEP_BACKOFF_MS: durationMs(DEFAULT_STEP_SETTINGS.backoffMs),
  WORKER_CONCURRENCY: positiveInt(5),
  LOCK_DURATION_MS: durationMs(30 * SECOND_MS, SECOND_MS),
  STALLED_INTERVAL_MS: durationMs(30 * SECOND_MS, 100),
  MAX_STALLED_COUNT: positiveInt(5),
  SHUTDOWN_TIMEOUT_MS: durationMs(25 * SECOND_MS),
  EMAIL_CLAIM_MS: durationMs(2 * MINUTE_MS, SECOND_MS),
  ORPHAN_PACKAGE_AGE_MS: durationMs(HOUR_MS),
  ORPHAN_SWEEP_INTERVAL_MS: durationMs(15 * MINUTE_MS),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
});

// Workers serve no HTTP: they need not (and should not) hold its secrets.
const workerEnvSchema = envSchema.extend({
  INTAKE_TOKEN: envSchema.shape.INTAKE_TOKEN.optional(),
  BOARD_USER: envSchema.shape.BOARD_USER.optional(),
  BOARD_PASSWORD: envSchema.shape.BOARD_PASSWORD.optional(),
});

type Env = z.infer<typeof workerEnvSchema>;

/** Every environment variable the service reads. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** The service's settings, read once from the environment and frozen. */
export interface Config {
  redisUrl: string;
  queuePrefix: string;
  fivetran: {
    apiUrl: string;
    apiKey: string;
    apiSecret: string;
    groupId: string;
    timeoutMs: number;
    rateLimit: RateLimit;
    createRateLimit: RateLimit;
    /** Longest total time one step may spend waiting out rate limits. */
    maxRateLimitWaitMs: number;
  };
  connector: {
    bucket: string;
    object: string;
    secretKeys: string[];
    pythonVersion: string | undefined;
    schemaPrefix: string;
  };
  connectCardRedirectUri: string;
  smtpUrl: string;
  mailFrom: string;
  /**
   * How long one run may hold the right to send a user's email; longer
   * than any SMTP send may take. A run that died mid-send delays the retry
   * by this much.
   */
  emailClaimMs: number;
  http: { port: number; host: string };
  /** Unset only for the worker role, which serves no HTTP. */
  intakeToken: string | undefined;
  board: { user: string; password: string } | undefined;
  steps: {
    attempts: number;
    backoffMs: number;
    concurrency: number;
    /** How long a crashed worker's job stays locked before another takes it. */
    lockDurationMs: number;
    stalledIntervalMs: number;
    /**
     * Takeovers a job may go through before it fails as JOB_STALLED. Steps
     * remember what they did, so a re-run after a crash is cheap.
     */
    maxStalledCount: number;
  };
  shutdownTimeoutMs: number;
  /** Unbound packages of ours younger than this are left alone. */
  orphanPackageAgeMs: number;
  /** How often the orphan sweep runs; 0 turns it off. */
  orphanSweepIntervalMs: number;
  logLevel: Env['LOG_LEVEL'];
}

/**
 * Reads and validates the environment. Every problem is collected, so an
 * operator fixes the whole list in one go instead of one restart per typo.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  role: 'all' | 'worker' | 'http' = 'all',
): Config {
  const schema = role === 'worker' ? workerEnvSchema : envSchema;
  const parsed = schema.safeParse(withoutBlanks(env), {
    reportInput: true,
  });
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = issue.path.join('.');
        // reportInput: a set variable shows as `input`; an unset one not.
        const input = (issue as { input?: unknown }).input;
        if (issue.code === 'invalid_type' && input === undefined) {
          return `${name} is required`;
        }
        // zod's own wording starts "Invalid input"; ours reads as a sentence.
        const message =
          issue.code === 'invalid_type' && issue.message.startsWith('Invalid')
            ? `must be a ${issue.expected}`
            : issue.message;
        return `${name} ${message}`;
      }),
    );
  }
  return Object.freeze(toConfig(parsed.data));
}

// An empty variable (FOO=) is treated as unset so defaults still apply and
// required ones are reported as missing rather than as oddly invalid.
function withoutBlanks(env: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value.trim() !== '') result[name] = value;
  }
  return result;
}

function toConfig(env: Env): Config {
  return {
    redisUrl: env.REDIS_URL,
    queuePrefix: env.QUEUE_PREFIX,
    fivetran: {
      apiUrl: env.FIVETRAN_API_URL.replace(/\/+$/, ''),
      apiKey: env.FIVETRAN_API_KEY,
      apiSecret: env.FIVETRAN_API_SECRET,
      groupId: env.FIVETRAN_GROUP_ID,
      timeoutMs: env.FIVETRAN_TIMEOUT_MS,
      rateLimit: env.FIVETRAN_RATE_LIMIT,
      createRateLimit: env.FIVETRAN_CREATE_RATE_LIMIT,
      maxRateLimitWaitMs: env.FIVETRAN_MAX_RATE_LIMIT_WAIT_MS,
    },
    connector: {
      bucket: env.CONNECTOR_PACKAGE.bucket,
      object: env.CONNECTOR_PACKAGE.object,
      secretKeys: env.CONNECTOR_SECRET_KEYS,
      pythonVersion: env.CONNECTOR_PYTHON_VERSION,
      schemaPrefix: env.CONNECTOR_SCHEMA_PREFIX,
    },
    connectCardRedirectUri: env.CONNECT_CARD_REDIRECT_URI,
    smtpUrl: env.SMTP_URL,
    mailFrom: env.MAIL_FROM,
    emailClaimMs: env.EMAIL_CLAIM_MS,
    http: { port: env.PORT, host: env.HOST },
    intakeToken: env.INTAKE_TOKEN,
    board:
      env.BOARD_USER && env.BOARD_PASSWORD
        ? { user: env.BOARD_USER, password: env.BOARD_PASSWORD }
        : undefined,
    steps: {
      attempts: env.STEP_ATTEMPTS,
      backoffMs: env.STEP_BACKOFF_MS,
      concurrency: env.WORKER_CONCURRENCY,
      lockDurationMs: env.LOCK_DURATION_MS,
      stalledIntervalMs: env.STALLED_INTERVAL_MS,
      maxStalledCount: env.MAX_STALLED_COUNT,
    },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    orphanPackageAgeMs: env.ORPHAN_PACKAGE_AGE_MS,
    orphanSweepIntervalMs: env.ORPHAN_SWEEP_INTERVAL_MS,
    logLevel: env.LOG_LEVEL,
  };
}
