import { Queue } from 'bullmq';
import type { ConnectionOptions, JobsOptions } from 'bullmq';

/** The chain, in order. Each step's job id is `${step}-${onboardingId}`. */
export const StepName = {
  UploadPackage: 'upload-package',
  CreateConnection: 'create-connection',
  EmailConnectCard: 'email-connect-card',
} as const;

export type StepName = (typeof StepName)[keyof typeof StepName];

export const STEP_ORDER: readonly StepName[] = [
  StepName.UploadPackage,
  StepName.CreateConnection,
  StepName.EmailConnectCard,
];

/** The step after `step`, or undefined at the end of the chain. */
export function nextStep(step: StepName): StepName | undefined {
  return STEP_ORDER[STEP_ORDER.indexOf(step) + 1];
}

/**
 * Job data is ids only: the user's address and name live in the onboarding
 * record, and nothing secret is ever put here (Bull Board shows job data).
 * The first step also carries the signup so that it can create the record
 * if the intake lost its connection between adding the job and writing it.
 */
export interface StepJobData {
  onboardingId: string;
  signup?: {
    userId: string;
    email: string;
    name?: string;
    eventId: string;
  };
  /** Time this job has spent waiting out Fivetran rate limits, in total. */
  rateLimitWaitMs?: number;
}

export interface StepQueueSettings {
  attempts: number;
  backoffMs: number;
}

/** Defaults of QUEUE_PREFIX, STEP_ATTEMPTS and STEP_BACKOFF_MS. */
export const DEFAULT_QUEUE_PREFIX = '{ccw}';
export const DEFAULT_STEP_SETTINGS: StepQueueSettings = {
  attempts: 6,
  backoffMs: 2000,
};

const DAY_SECONDS = 24 * 3600;

export function stepJobOptions(
  step: StepName,
  onboardingId: string,
  settings: StepQueueSettings,
): JobsOptions {
  return {
    jobId: stepJobId(step, onboardingId),
    attempts: settings.attempts,
    backoff: { type: 'exponential', delay: settings.backoffMs, jitter: 0.5 },
    // Finished jobs are kept a while for operators; the onboarding record,
    // not the job, is what stops a repeated signup from running again.
    removeOnComplete: { age: 7 * DAY_SECONDS, count: 50_000 },
    removeOnFail: { age: 30 * DAY_SECONDS },
  };
}

export function stepJobId(step: StepName, onboardingId: string): string {
  return `${step}-${onboardingId}`;
}

export type StepQueues = Record<StepName, Queue<StepJobData>>;

/** Housekeeping that is not part of any one onboarding. */
export const MAINTENANCE_QUEUE = 'maintenance';
export const ORPHAN_SWEEP_SCHEDULER = 'sweep-orphan-packages';

export function createMaintenanceQueue(
  connection: ConnectionOptions,
  prefix: string,
  onError: QueueErrorHandler,
): Queue {
  const queue = new Queue(MAINTENANCE_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 500 },
    },
  });
  queue.on('error', (error) => onError(error, MAINTENANCE_QUEUE));
  return queue;
}

export type QueueErrorHandler = (error: Error, queueName: string) => void;

/** The only place that creates queues, so names and prefix stay in one spot. */
export function createStepQueues(
  connection: ConnectionOptions,
  prefix: string,
  onError: QueueErrorHandler,
): StepQueues {
  const make = (name: StepName) => {
    const queue = new Queue<StepJobData>(name, { connection, prefix });
    // Without a listener, BullMQ prints each connection error to stderr.
    queue.on('error', (error) => onError(error, name));
    return queue;
  };
  return {
    [StepName.UploadPackage]: make(StepName.UploadPackage),
    [StepName.CreateConnection]: make(StepName.CreateConnection),
    [StepName.EmailConnectCard]: make(StepName.EmailConnectCard),
  };
}

export async function closeQueues(queues: StepQueues): Promise<void> {
  await Promise.all(Object.values(queues).map((queue) => queue.close()));
}
