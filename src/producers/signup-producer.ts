import { Redis } from 'ioredis';
import { ErrorCode, ServiceError } from '../errors.ts';
import { createOnboardingStore } from '../onboarding/store.ts';
import {
  closeQueues,
  createStepQueues,
  DEFAULT_QUEUE_PREFIX,
  DEFAULT_STEP_SETTINGS,
  type StepQueueSettings,
} from '../queues/index.ts';
import { closeConnection } from '../redis.ts';
import { enqueueSignup, type EnqueueResult } from './enqueue-signup.ts';
import { parseSignupEvent } from './signup-event.ts';

export interface SignupProducerOptions {
  redisUrl: string;
  /** Must equal the workers' QUEUE_PREFIX. @defaultValue '{ccw}' */
  queuePrefix?: string;
  /** Attempts and first backoff of each step. */
  steps?: StepQueueSettings;
}

export interface SignupProducer {
  /**
   * Validates and stores a signup event. Resolves once it is stored;
   * rejects with code INVALID_SIGNUP (and `problems`) for bad input, or
   * INTAKE_UNAVAILABLE when Redis could not store it.
   */
  enqueueSignup(event: unknown): Promise<EnqueueResult>;
  close(): Promise<void>;
}

export class InvalidSignupError extends ServiceError {
  readonly problems: { field: string; message: string }[];

  constructor(problems: { field: string; message: string }[]) {
    super(
      ErrorCode.InvalidSignup,
      `Invalid signup: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
    );
    this.name = 'InvalidSignupError';
    this.problems = problems;
  }
}

/** For products that embed the producer instead of calling the HTTP intake. */
export function createSignupProducer(
  options: SignupProducerOptions,
): SignupProducer {
  const prefix = options.queuePrefix ?? DEFAULT_QUEUE_PREFIX;
  const redis = new Redis(options.redisUrl, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
  });
  redis.on('error', () => {
    // Reported to the caller as INTAKE_UNAVAILABLE by the failing command.
  });
  // Failures reach the caller through the rejected enqueueSignup call.
  const queues = createStepQueues(redis, prefix, () => {});
  const deps = {
    store: createOnboardingStore(redis, prefix),
    queues,
    queueSettings: options.steps ?? DEFAULT_STEP_SETTINGS,
  };
  return {
    async enqueueSignup(event) {
      const parsed = parseSignupEvent(event);
      if (!parsed.ok) throw new InvalidSignupError(parsed.problems);
      return enqueueSignup(deps, parsed.event);
    },
    async close() {
      await closeQueues(queues);
      await closeConnection(redis);
    },
  };
}
