import { Queue } from 'bullmq';
import type { TestService } from './service.ts';
import { waitFor } from './wait-for.ts';

/** Reads a step job as Bull Board would show it. */
export async function readJob(
  service: TestService,
  step: string,
  onboardingId: string,
) {
  const queue = new Queue(step, {
    connection: service.redis,
    prefix: service.config.queuePrefix,
  });
  try {
    const jobId = `${step}-${onboardingId}`;
    // State first: a job read before its state could predate that state.
    const state = await queue.getJobState(jobId);
    const job = await queue.getJob(jobId);
    return job
      ? {
          state,
          failedReason: job.failedReason,
          attemptsMade: job.attemptsMade,
          attemptsStarted: job.attemptsStarted,
          processedBy: job.processedBy,
          stalledCounter: job.stalledCounter,
          data: job.data as Record<string, unknown>,
          returnvalue: job.returnvalue as unknown,
        }
      : undefined;
  } finally {
    await queue.close();
  }
}

/** Posts a signup and returns its onboarding id. */
export async function submitSignup(
  service: TestService,
  body: unknown,
): Promise<string> {
  const response = await service.postSignup(body);
  if (response.status !== 202) {
    throw new Error(`signup answered ${response.status}`);
  }
  return ((await response.json()) as { onboarding_id: string }).onboarding_id;
}

export function waitForState(
  service: TestService,
  onboardingId: string,
  state: string,
  timeoutMs = 20_000,
) {
  return waitFor(
    () => service.store.get(onboardingId),
    (record) => record?.state === state,
    timeoutMs,
  );
}

/** Waits until the step's job reaches this state; resolves with the job. */
export function waitForJobState(
  service: TestService,
  step: string,
  onboardingId: string,
  state: string,
) {
  return waitFor(
    () => readJob(service, step, onboardingId),
    (job) => job?.state === state,
  );
}
