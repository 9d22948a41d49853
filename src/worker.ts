import { hostname } from 'node:os';
import { Storage } from '@google-cloud/storage';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { createFivetranClient } from './fivetran/client.ts';
import { createRequestBudget } from './fivetran/request-budget.ts';
import { createPackageSource } from './gcs/package-source.ts';
import {
  createStepProcessor,
  recordUnhandledFailure,
} from './jobs/step-processor.ts';
import type { StepDeps } from './jobs/step-deps.ts';
import type { Logger } from './logger.ts';
import { createMailer } from './mail/mailer.ts';
import { createOnboardingStore } from './onboarding/store.ts';
import { sweepOrphanPackages } from './jobs/sweep-orphan-packages.ts';
import {
  closeQueues,
  createMaintenanceQueue,
  createStepQueues,
  MAINTENANCE_QUEUE,
  ORPHAN_SWEEP_SCHEDULER,
  STEP_ORDER,
  StepName,
  type StepJobData,
} from './queues/index.ts';
import {
  closeConnection,
  createWorkerConnection,
  logConnectionErrors,
} from './redis.ts';
import {
  logQueueErrors,
  throttledLog,
  type ThrottledLog,
} from './log-throttle.ts';
import { closeWithin } from './shutdown.ts';

// Long enough to ride out spacing between calls, short enough that a job
// facing a long pause gives its slot back instead of sleeping in it.
const MAX_INLINE_BUDGET_WAIT_MS = 15_000;

export interface WorkerHandle {
  workers: Worker[];
  /** Stops taking jobs, lets active ones finish within the deadline. */
  close(deadlineMs: number): Promise<void>;
}

/** The composition root of the job side: builds every part and wires it. */
export function startWorkers(
  config: Config,
  log: Logger,
  userAgent: string,
): WorkerHandle {
  const noisy = throttledLog(log);
  const redis = logConnectionErrors(
    createWorkerConnection(config.redisUrl),
    noisy,
    'worker',
  );
  const deps = buildStepDeps(config, redis, userAgent);
  const queues = createStepQueues(
    redis,
    config.queuePrefix,
    logQueueErrors(noisy),
  );
  const workers: Worker[] = STEP_ORDER.map(
    (step) =>
      new Worker<StepJobData>(
        step,
        createStepProcessor(step, {
          deps,
          queues,
          queueSettings: config.steps,
          log,
          maxRateLimitWaitMs: config.fivetran.maxRateLimitWaitMs,
        }),
        {
          connection: redis,
          prefix: config.queuePrefix,
          concurrency: config.steps.concurrency,
          lockDuration: config.steps.lockDurationMs,
          stalledInterval: config.steps.stalledIntervalMs,
          maxStalledCount: config.steps.maxStalledCount,
          // Shown per job in Bull Board ("processed by"), and lets tests see
          // which process ran what.
          name: `${hostname()}:${process.pid}`,
        },
      ),
  );
  for (const [index, step] of STEP_ORDER.entries()) {
    // Every other final failure goes through the processor, which records
    // it. A job that stalled once too often is failed by BullMQ's stalled
    // check instead, which reports it only as stalled.
    workers[index]?.on('stalled', (jobId) => {
      queues[step]
        .getJob(jobId)
        .then((job) => recordUnhandledFailure(deps, step, job, log))
        .catch((error: unknown) =>
          log.error({ err: error, queue: step }, 'failure not recorded'),
        );
    });
  }
  const maintenance = startMaintenance(config, redis, deps, log, noisy);
  workers.push(maintenance.worker);
  for (const worker of workers) {
    worker.on('error', (error) =>
      noisy(
        'error',
        `worker:${worker.name}`,
        { err: error, queue: worker.name },
        'worker error',
      ),
    );
  }
  log.info(
    { queues: STEP_ORDER, concurrency: config.steps.concurrency },
    'workers started',
  );

  return {
    workers,
    async close(deadlineMs) {
      await closeWithin(workers, deadlineMs, log);
      await closeQueues(queues);
      await maintenance.queue.close();
      await deps.fivetran.close();
      deps.mailer.close();
      await closeConnection(redis);
    },
  };
}

function startMaintenance(
  config: Config,
  redis: Redis,
  deps: StepDeps,
  log: Logger,
  noisy: ThrottledLog,
) {
  const queue = createMaintenanceQueue(
    redis,
    config.queuePrefix,
    logQueueErrors(noisy),
  );
  if (config.orphanSweepIntervalMs > 0) {
    // Every worker process upserts the same scheduler: one schedule results.
    queue
      .upsertJobScheduler(
        ORPHAN_SWEEP_SCHEDULER,
        { every: config.orphanSweepIntervalMs },
        { name: ORPHAN_SWEEP_SCHEDULER },
      )
      .catch((error: unknown) =>
        log.error({ err: error }, 'orphan sweep not scheduled'),
      );
  }
  const worker = new Worker(
    MAINTENANCE_QUEUE,
    async (job) =>
      sweepOrphanPackages(deps, {
        minAgeMs: config.orphanPackageAgeMs,
        log: log.child({ queue: MAINTENANCE_QUEUE, jobId: job.id }),
      }),
    { connection: redis, prefix: config.queuePrefix, concurrency: 1 },
  );
  return { queue, worker };
}

export function buildStepDeps(
  config: Config,
  redis: Redis,
  userAgent: string,
): StepDeps {
  const budget = createRequestBudget({
    redis,
    prefix: config.queuePrefix,
    limits: {
      request: config.fivetran.rateLimit,
      create: config.fivetran.createRateLimit,
    },
    maxInlineWaitMs: MAX_INLINE_BUDGET_WAIT_MS,
  });
  return {
    store: createOnboardingStore(redis, config.queuePrefix),
    fivetran: createFivetranClient({ ...config.fivetran, budget, userAgent }),
    packageSource: createPackageSource(
      // The job retries failed reads itself. The library's own retry of a
      // media download leaks an unhandled rejection per retry (seen with
      // 8.4 against a 503), which would take the whole worker down.
      new Storage({ retryOptions: { autoRetry: false } }),
      config.connector.bucket,
      config.connector.object,
    ),
    mailer: createMailer(config.smtpUrl, config.mailFrom),
    settings: {
      groupId: config.fivetran.groupId,
      secretKeys: config.connector.secretKeys,
      pythonVersion: config.connector.pythonVersion,
      schemaPrefix: config.connector.schemaPrefix,
      redirectUri: config.connectCardRedirectUri,
      mailFrom: config.mailFrom,
      emailClaimMs: config.emailClaimMs,
    },
  };
}

export { StepName };
