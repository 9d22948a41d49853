import { DelayedError, UnrecoverableError, WaitingError } from 'bullmq';
import type { Job } from 'bullmq';
import { ErrorCode, ServiceError, hasCode, isRetryable } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { OnboardingState } from '../onboarding/store.ts';
import {
  nextStep,
  STEP_ORDER,
  stepJobId,
  stepJobOptions,
  StepName,
  type StepJobData,
  type StepQueues,
  type StepQueueSettings,
} from '../queues/index.ts';
import { createConnection } from './create-connection.ts';
import { emailConnectCard } from './email-connect-card.ts';
import type { StepDeps, StepRun } from './step-deps.ts';
import { uploadPackage } from './upload-package.ts';

const STEPS: Record<
  StepName,
  (deps: StepDeps, run: StepRun) => Promise<object>
> = {
  [StepName.UploadPackage]: uploadPackage,
  [StepName.CreateConnection]: createConnection,
  [StepName.EmailConnectCard]: emailConnectCard,
};

export interface StepProcessorOptions {
  deps: StepDeps;
  queues: StepQueues;
  queueSettings: StepQueueSettings;
  log: Logger;
  /** Total rate-limited waiting a job may do before it fails as such. */
  maxRateLimitWaitMs: number;
}

/**
 * Records a job that BullMQ failed without our processor deciding it (it
 * stalled more often than allowed, because its workers kept dying), so the
 * onboarding does not sit in an in-between state for good.
 */
export async function recordUnhandledFailure(
  deps: StepDeps,
  step: StepName,
  job: Job<StepJobData> | undefined,
  log: Logger,
): Promise<void> {
  if (!job || !(await job.isFailed())) return;
  const record = await deps.store.get(job.data.onboardingId);
  if (
    !record ||
    record.state === OnboardingState.Failed ||
    record.state === OnboardingState.EmailSent
  ) {
    return;
  }
  log.error(
    { queue: step, jobId: job.id, reason: job.failedReason },
    'step failed for good outside the processor',
  );
  await failOnboarding(deps, job.data.onboardingId, log, {
    step,
    code: ErrorCode.JobStalled,
    reason: job.failedReason,
  });
}

/**
 * Wraps a step for BullMQ: memoised steps run, the next step is enqueued, and
 * failures are sorted by code into waits (no attempt spent), retries (warn)
 * and final failures (error, recorded on the onboarding).
 */
export function createStepProcessor(
  step: StepName,
  options: StepProcessorOptions,
) {
  const { deps, queues, queueSettings, maxRateLimitWaitMs } = options;

  return async function process(
    job: Job<StepJobData>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<object> {
    const onboardingId = job.data.onboardingId;
    const log = options.log.child({
      queue: job.queueName,
      jobId: job.id,
      attempt: job.attemptsMade + 1,
      onboardingId,
    });
    try {
      if (job.data.signup) await ensureRecord(deps, job.data);
      const result = await STEPS[step](deps, { onboardingId, log, signal });
      const next = nextStep(step);
      // The job id makes this add a no-op when a re-run of this step (after
      // a crash between the step and this line) adds it again; the job that
      // stands is returned either way.
      const nextJob = next
        ? await queues[next].add(
            next,
            { onboardingId },
            stepJobOptions(next, onboardingId, queueSettings),
          )
        : undefined;
      await resumeFailedSteps(onboardingId, nextJob);
      return result;
    } catch (error) {
      if (signal?.aborted && token) {
        // Shutdown cut this run short: hand the job back untouched, with no
        // attempt spent, for another worker to pick up.
        log.info('job handed back on shutdown');
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (isRateLimitWait(error)) {
        return await waitOutRateLimit(job, token, error, log);
      }
      if (hasCode(error, ErrorCode.EmailSendInProgress) && token) {
        // Not a failure: come back once the other run's claim has lapsed.
        log.info({ waitMs: error.details.waitMs }, 'email claimed elsewhere');
        return await delayWithoutAttempt(job, token, error.details.waitMs);
      }
      await onFailure(job, error, log);
      throw error;
    }
  };

  /**
   * An operator retried this step while a later one sits in the failed set
   * (say, mail refused until the SMTP settings were fixed): that one runs
   * again too, so retrying any step carries the onboarding on.
   */
  async function resumeFailedSteps(
    onboardingId: string,
    next: Job<StepJobData> | undefined,
  ): Promise<void> {
    const record = await deps.store.get(onboardingId);
    const failedStep =
      record?.state === OnboardingState.Failed
        ? STEP_ORDER.find((name) => name === record.failedStep)
        : undefined;
    const candidates: (Job<StepJobData> | undefined)[] = [next];
    if (failedStep && failedStep !== step && failedStep !== next?.name) {
      candidates.push(
        await queues[failedStep].getJob(stepJobId(failedStep, onboardingId)),
      );
    }
    for (const failed of candidates) {
      if (failed && (await failed.isFailed())) {
        await failed.retry('failed', {
          resetAttemptsMade: true,
          resetAttemptsStarted: true,
        });
      }
    }
  }

  async function waitOutRateLimit(
    job: Job<StepJobData>,
    token: string | undefined,
    error: ServiceError,
    log: Logger,
  ): Promise<never> {
    const waitMs =
      error.details.waitMs ?? (error.details.retryAfterSeconds ?? 1) * 1000;
    // Only waits Fivetran imposed (429) count toward the bound. Waiting for
    // a slot in our own budget is a queue, not a refusal: a burst of
    // thousands of signups drains at the configured rate and none fails.
    const imposed = error.code === ErrorCode.FivetranRateLimited;
    const waitedMs = (job.data.rateLimitWaitMs ?? 0) + (imposed ? waitMs : 0);
    if (waitedMs > maxRateLimitWaitMs || !token) {
      const seconds = (ms: number) => (ms / 1000).toFixed(1);
      const reason = `rate limited: ${seconds(waitedMs)} s of waiting in total, over the ${seconds(maxRateLimitWaitMs)} s allowed`;
      await onFailure(
        job,
        new ServiceError(ErrorCode.RateLimitWaitExceeded, reason),
        log,
      );
      throw new UnrecoverableError(reason);
    }
    log.info({ waitMs, code: error.code }, 'waiting out rate limit');
    await job.updateData({ ...job.data, rateLimitWaitMs: waitedMs });
    return delayWithoutAttempt(job, token, waitMs);
  }

  /** Logs a failure; a final one is recorded and rethrown for BullMQ. */
  async function onFailure(
    job: Job<StepJobData>,
    error: unknown,
    log: Logger,
  ): Promise<void> {
    const code = error instanceof ServiceError ? error.code : 'UNEXPECTED';
    const retryable = isRetryable(error);
    const attemptsLeft = (job.opts.attempts ?? 1) - (job.attemptsMade + 1);
    if (retryable && attemptsLeft > 0) {
      log.warn({ err: error, code, attemptsLeft }, 'step failed, will retry');
      return;
    }
    log.error({ err: error, code }, 'step failed for good');
    const reason = (error as Error).message;
    await failOnboarding(deps, job.data.onboardingId, log, {
      step,
      code,
      reason,
    });
    // The message is what Bull Board shows, so it ends with the code.
    // UnrecoverableError stops BullMQ retrying what will not get better.
    const shown = `${reason} [${code}]`;
    throw retryable ? new Error(shown) : new UnrecoverableError(shown);
  }
}

/** Comes back later; BullMQ counts a delay as no attempt. */
async function delayWithoutAttempt(
  job: Job<StepJobData>,
  token: string,
  waitMs = 1000,
): Promise<never> {
  await job.moveToDelayed(Date.now() + waitMs, token);
  throw new DelayedError();
}

/** Marks the onboarding failed and frees what it will no longer use. */
async function failOnboarding(
  deps: StepDeps,
  onboardingId: string,
  log: Logger,
  failure: { step: string; code: string; reason: string },
): Promise<void> {
  await deps.store.recordFailure(onboardingId, failure);
  await releasePackage(deps, onboardingId, log);
}

function isRateLimitWait(error: unknown): error is ServiceError {
  return (
    hasCode(error, ErrorCode.FivetranRateLimited) ||
    hasCode(error, ErrorCode.BudgetExhausted)
  );
}

async function ensureRecord(deps: StepDeps, data: StepJobData): Promise<void> {
  const signup = data.signup;
  if (!signup) return;
  await deps.store.create({
    onboardingId: data.onboardingId,
    userId: signup.userId,
    email: signup.email,
    name: signup.name,
    eventId: signup.eventId,
  });
}

/**
 * An onboarding that failed for good before its connection existed leaves an
 * unbound package behind; delete it so orphans do not pile up in the
 * account. Best effort: a failure here is logged, not raised over the
 * step's own failure.
 */
async function releasePackage(
  deps: StepDeps,
  onboardingId: string,
  log: Logger,
): Promise<void> {
  const record = await deps.store.get(onboardingId);
  // A deleted package is no longer recorded, so a package recorded after a
  // retry is released too.
  if (!record?.packageId || record.connectionId) return;
  try {
    await deps.fivetran.deletePackage(record.packageId);
    await deps.store.recordPackageDeleted(onboardingId, record.packageId);
    log.info({ packageId: record.packageId }, 'orphan package deleted');
  } catch (error) {
    log.error(
      { err: error, packageId: record.packageId },
      'orphan package not deleted',
    );
  }
}
