/**
 * Rate-limit benchmark: N onboardings against the Fivetran simulator, with
 * the service's budget and the simulator's limit set to the same value.
 *
 *   npm run bench -- --onboardings 200 --limit 600/1m --latency-ms 50 \
 *     --workers 1 --concurrency 10
 *
 * Every figure about Fivetran calls comes from the simulator's own request
 * log, i.e. from the side that enforces the limit, not from the client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.ts';
import {
  formatRateLimit,
  parseRateLimit,
  type RateLimit,
} from '../src/fivetran/rate-limit.ts';
import { createLogger } from '../src/logger.ts';
import {
  createOnboardingStore,
  type OnboardingRecord,
} from '../src/onboarding/store.ts';
import { createSignupProducer } from '../src/producers/signup-producer.ts';
import { closeQueues, createStepQueues } from '../src/queues/index.ts';
import { maxInRollingWindow } from '../src/sandbox/rolling-window.ts';
import type { SimRequest } from '../src/sandbox/fivetran-simulator.ts';
import { startRedisProcess } from '../src/sandbox/redis-process.ts';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import { startService } from '../src/service.ts';

const QUEUE_PREFIX = '{bench}';
const POLL_MS = 250;
const PROGRESS_EVERY_MS = 5000;

interface Options {
  onboardings: number;
  limit: RateLimit;
  limitSpec: string;
  createLimit: RateLimit;
  createLimitSpec: string;
  latencyMs: number;
  workers: number;
  concurrency: number;
  timeoutMs: number;
  logLevel: string;
  /** Where to write the simulator's request log, for a closer look. */
  dumpRequests: string | undefined;
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      onboardings: { type: 'string', default: '200' },
      limit: { type: 'string', default: '600/1m' },
      'create-limit': { type: 'string' },
      'latency-ms': { type: 'string', default: '50' },
      workers: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '10' },
      'timeout-s': { type: 'string' },
      'log-level': { type: 'string', default: 'error' },
      'dump-requests': { type: 'string' },
    },
    strict: true,
  });
  const positive = (name: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`--${name} must be a positive integer, got "${value}"`);
    }
    return n;
  };
  const limitSpec = values.limit;
  // Not binding by default, so the general limit alone is what is measured.
  const createLimitSpec = values['create-limit'] ?? limitSpec;
  const limit = parseRateLimit(limitSpec);
  const onboardings = positive('onboardings', values.onboardings);
  // Three calls per onboarding at the allowed rate, twice over, plus a minute
  // for start-up and stragglers.
  const expectedMs = ((onboardings * 3) / limit.max) * limit.windowMs;
  const timeoutMs = values['timeout-s']
    ? positive('timeout-s', values['timeout-s']) * 1000
    : Math.round(2 * expectedMs + 60_000);
  return {
    onboardings,
    limit,
    limitSpec,
    createLimit: parseRateLimit(createLimitSpec),
    createLimitSpec,
    latencyMs: Number(values['latency-ms']),
    workers: positive('workers', values.workers),
    concurrency: positive('concurrency', values.concurrency),
    timeoutMs,
    logLevel: values['log-level'],
    dumpRequests: values['dump-requests'],
  };
}

function progress(message: string) {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Nearest-rank percentile of an ascending list. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

function smallestGapMs(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let gap = Infinity;
  for (let i = 1; i < sorted.length; i++) {
    gap = Math.min(gap, (sorted[i] as number) - (sorted[i - 1] as number));
  }
  return gap;
}

async function startWorkerProcess(
  env: Record<string, string>,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['src/main.ts', 'worker'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') {
      progress(`worker process ${child.pid} exited (${code ?? signal})`);
    }
  });
  return child;
}

async function stopWorkerProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

// Started workers register with Redis under their queue's name; waiting for
// all of them keeps start-up time out of the onboarding figures.
async function waitForWorkers(redisUrl: string, count: number) {
  const redis = new Redis(redisUrl);
  const stepQueues = createStepQueues(redis, QUEUE_PREFIX, () => {});
  const queues = Object.values(stepQueues);
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const counts = await Promise.all(queues.map((q) => q.getWorkersCount()));
      if (counts.every((n) => n >= count)) return;
      if (Date.now() > deadline) {
        throw new Error(`only ${counts.join('/')} of ${count} workers started`);
      }
      await sleep(100);
    }
  } finally {
    await closeQueues(stepQueues);
    redis.disconnect();
  }
}

interface Figures {
  date: string;
  cpus: number;
  onboardings: number;
  emailSent: number;
  failed: number;
  unfinished: number;
  limit: string;
  createLimit: string;
  latencyMs: number;
  workers: number;
  concurrency: number;
  requests: number;
  answeredNon429: number;
  status429: number;
  requestSpanS: number;
  achievedPerWindow: number;
  allowedPerWindow: number;
  achievedOverAllowed: number;
  maxInAnyWindow: number;
  maxCreatesInAnyWindow: number;
  createAllowedPerWindow: number;
  smallestGapMs: number;
  onboardingsPerSecond: number;
  firstSignupToLastEmailS: number;
  latencyP50S: number;
  latencyP99S: number;
  latencyMaxS: number;
  wallS: number;
  /** Calls per route and status, e.g. "create-connection 201": 400. */
  calls: Record<string, number>;
}

function computeFigures(
  options: Options,
  requests: SimRequest[],
  records: (OnboardingRecord | undefined)[],
  wallMs: number,
): Figures {
  const answered = requests.filter((r) => r.status !== 429);
  const times = answered.map((r) => r.receivedAt);
  const allTimes = requests.map((r) => r.receivedAt);
  const spanMs = allTimes.length
    ? Math.max(...allTimes) - Math.min(...allTimes)
    : 0;
  const achievedPerWindow =
    spanMs > 0 ? (answered.length / spanMs) * options.limit.windowMs : NaN;

  const sent = records.filter((r) => r?.state === 'email_sent');
  const failed = records.filter((r) => r?.state === 'failed').length;
  const latencies = sent
    .map((r) => Date.parse(r!.emailSentAt!) - Date.parse(r!.createdAt))
    .sort((a, b) => a - b);
  const firstSignup = Math.min(
    ...records.flatMap((r) => (r ? [Date.parse(r.createdAt)] : [])),
  );
  const lastEmail = Math.max(...sent.map((r) => Date.parse(r!.emailSentAt!)));
  const signupToEmailMs = lastEmail - firstSignup;
  const round = (n: number, digits = 3) => Number(n.toFixed(digits));

  return {
    date: new Date().toISOString(),
    cpus: cpus().length,
    onboardings: options.onboardings,
    emailSent: sent.length,
    failed,
    unfinished: options.onboardings - sent.length - failed,
    limit: formatRateLimit(options.limit),
    createLimit: formatRateLimit(options.createLimit),
    latencyMs: options.latencyMs,
    workers: options.workers,
    concurrency: options.concurrency,
    requests: requests.length,
    answeredNon429: answered.length,
    status429: requests.length - answered.length,
    requestSpanS: round(spanMs / 1000),
    achievedPerWindow: round(achievedPerWindow, 1),
    allowedPerWindow: options.limit.max,
    achievedOverAllowed: round(achievedPerWindow / options.limit.max),
    maxInAnyWindow: maxInRollingWindow(times, options.limit.windowMs),
    maxCreatesInAnyWindow: maxInRollingWindow(
      answered
        .filter((r) => r.route === 'create-connection')
        .map((r) => r.receivedAt),
      options.createLimit.windowMs,
    ),
    createAllowedPerWindow: options.createLimit.max,
    smallestGapMs: smallestGapMs(times),
    onboardingsPerSecond: round(sent.length / (signupToEmailMs / 1000)),
    firstSignupToLastEmailS: round(signupToEmailMs / 1000),
    latencyP50S: round(percentile(latencies, 50) / 1000),
    latencyP99S: round(percentile(latencies, 99) / 1000),
    latencyMaxS: round((latencies.at(-1) ?? NaN) / 1000),
    wallS: round(wallMs / 1000, 1),
    calls: countCalls(requests),
  };
}

function countCalls(requests: SimRequest[]): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const r of requests) {
    const key = `${r.route} ${r.status}`;
    calls[key] = (calls[key] ?? 0) + 1;
  }
  return calls;
}

function printTable(f: Figures) {
  const windowLabel = f.limit.split('/')[1];
  const rows: [string, string][] = [
    [
      'run',
      `${f.onboardings} onboardings, ${f.workers} worker process(es) x concurrency ${f.concurrency}, ${f.cpus} cpus`,
    ],
    [
      'limit (service = simulator)',
      `all ${f.limit}, create ${f.createLimit}, latency ${f.latencyMs} ms`,
    ],
    [
      'onboardings',
      `${f.emailSent} emailed, ${f.failed} failed, ${f.unfinished} unfinished`,
    ],
    [
      'requests',
      `${f.requests} (${f.answeredNon429} answered non-429) over ${f.requestSpanS} s`,
    ],
    [
      'achieved / allowed',
      `${f.achievedPerWindow} / ${f.allowedPerWindow} per ${windowLabel} = ${f.achievedOverAllowed}`,
    ],
    ['429s received', String(f.status429)],
    [
      'calls by route and status',
      Object.entries(f.calls)
        .map(([key, n]) => `${key}: ${n}`)
        .join(', '),
    ],
    [
      'max in any rolling window',
      `${f.maxInAnyWindow} of ${f.allowedPerWindow} (creates ${f.maxCreatesInAnyWindow} of ${f.createAllowedPerWindow})`,
    ],
    ['smallest gap between calls', `${f.smallestGapMs} ms`],
    [
      'onboardings per second',
      `${f.onboardingsPerSecond} (first signup to last email ${f.firstSignupToLastEmailS} s)`,
    ],
    [
      'signup-to-email latency',
      `p50 ${f.latencyP50S} s, p99 ${f.latencyP99S} s, max ${f.latencyMaxS} s`,
    ],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  for (const [name, value] of rows) {
    console.log(`${name.padEnd(width)}  ${value}`);
  }
}

async function main(): Promise<number> {
  const options = readOptions();
  const startedMs = Date.now();
  // Undone in reverse, also when start-up fails half-way, so no redis-server
  // or worker process outlives the benchmark.
  const teardown: (() => Promise<void> | void)[] = [];
  try {
    return await run(options, startedMs, teardown);
  } finally {
    for (const undo of teardown.reverse()) await undo();
  }
}

async function run(
  options: Options,
  startedMs: number,
  teardown: (() => Promise<void> | void)[],
): Promise<number> {
  const redisProcess = await startRedisProcess();
  teardown.push(() => redisProcess.remove());
  const sandbox = await startSandbox({
    latencyMs: options.latencyMs,
    rateLimits: { all: options.limit, create: options.createLimit },
  });
  teardown.push(() => sandbox.close());
  const env: Record<string, string> = {
    REDIS_URL: redisProcess.url,
    QUEUE_PREFIX,
    CONNECTOR_SECRET_KEYS: 'API_KEY,API_SECRET',
    CONNECT_CARD_REDIRECT_URI: 'https://app.example.com/fivetran/return',
    INTAKE_TOKEN: 'bench-intake-token-0123456789',
    BOARD_USER: 'operator',
    BOARD_PASSWORD: 'bench-board-password',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: options.logLevel,
    FIVETRAN_RATE_LIMIT: options.limitSpec,
    FIVETRAN_CREATE_RATE_LIMIT: options.createLimitSpec,
    WORKER_CONCURRENCY: String(options.concurrency),
    // The sweep's first run lands at start-up, before any signup: its one
    // call would stretch the measured span by however long enqueueing takes.
    ORPHAN_SWEEP_INTERVAL_MS: '0',
    ...sandbox.env,
  };
  // The GCS client reads this from the process environment itself.
  process.env.STORAGE_EMULATOR_HOST = env.STORAGE_EMULATOR_HOST;

  for (let i = 1; i < options.workers; i++) {
    const child = await startWorkerProcess(env);
    teardown.push(() => stopWorkerProcess(child));
  }
  const config = loadConfig(env);
  const service = await startService(
    config,
    createLogger(config.logLevel),
    'all',
  );
  teardown.push(() => service.stop());
  const producer = createSignupProducer({
    redisUrl: redisProcess.url,
    queuePrefix: QUEUE_PREFIX,
  });
  teardown.push(() => producer.close());
  const redis = new Redis(redisProcess.url);
  teardown.push(() => redis.disconnect());
  const store = createOnboardingStore(redis, QUEUE_PREFIX);

  await waitForWorkers(redisProcess.url, options.workers);
  progress(
    `enqueueing ${options.onboardings} signups (limit ${options.limitSpec}, ${options.workers} worker process(es))`,
  );
  const enqueued = await Promise.all(
    Array.from({ length: options.onboardings }, (_, n) =>
      producer.enqueueSignup({
        event_id: `bench-evt-${n}`,
        user: {
          id: `bench-user-${n}`,
          email: `user${n}@bench.example.com`,
          name: `User ${n}`,
        },
      }),
    ),
  );
  const ids = enqueued.map((result) => result.onboardingId);

  const deadline = Date.now() + options.timeoutMs;
  let records: (OnboardingRecord | undefined)[] = [];
  let lastProgress = 0;
  for (;;) {
    records = await Promise.all(ids.map((id) => store.get(id)));
    const done = records.filter(
      (r) => r?.state === 'email_sent' || r?.state === 'failed',
    ).length;
    if (done === ids.length) break;
    if (Date.now() > deadline) {
      progress(`timed out after ${options.timeoutMs / 1000} s`);
      break;
    }
    if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = Date.now();
      progress(
        `${done}/${ids.length} finished, ${sandbox.fivetran.requests.length} Fivetran calls`,
      );
    }
    await sleep(POLL_MS);
  }

  const figures = computeFigures(
    options,
    sandbox.fivetran.requests,
    records,
    Date.now() - startedMs,
  );
  if (options.dumpRequests) {
    writeFileSync(
      options.dumpRequests,
      JSON.stringify(sandbox.fivetran.requests, null, 1),
    );
  }
  printTable(figures);
  console.log(JSON.stringify(figures));
  for (const record of records.filter((r) => r?.state === 'failed')) {
    progress(
      `failed ${record!.onboardingId} at ${record!.failedStep}: ${record!.failureCode} ${record!.failureReason}`,
    );
  }
  return figures.failed > 0 || figures.unfinished > 0 ? 1 : 0;
}

process.exitCode = await main();
