import { ErrorCode, ServiceError } from '../errors.ts';
import { onboardingIdFor } from '../onboarding/ids.ts';
import { OnboardingState, type OnboardingStore } from '../onboarding/store.ts';
import {
  stepJobOptions,
  StepName,
  type StepQueues,
  type StepQueueSettings,
} from '../queues/index.ts';
import type { SignupEvent } from './signup-event.ts';

export interface EnqueueResult {
  onboardingId: string;
  /** False when this user already had an onboarding. */
  created: boolean;
}

export class IntakeUnavailableError extends ServiceError {
  constructor(cause: unknown) {
    super(
      ErrorCode.IntakeUnavailable,
      'The signup could not be stored: the queue is unreachable',
      {},
      { cause },
    );
    this.name = 'IntakeUnavailableError';
  }
}

export interface SignupIntakeDeps {
  store: OnboardingStore;
  queues: StepQueues;
  queueSettings: StepQueueSettings;
}

/**
 * Stores a signup: the first job, then the record. The order matters when
 * Redis fails halfway: a job without a record still runs (it carries the
 * signup and writes the record itself), while a record without a job
 * would sit in `queued` forever. Either way the caller hears of the
 * failure and a retry lands on the same ids, so nothing is doubled.
 */
export async function enqueueSignup(
  deps: SignupIntakeDeps,
  event: SignupEvent,
): Promise<EnqueueResult> {
  const onboardingId = onboardingIdFor(event.user.id);
  try {
    const existing = await deps.store.get(onboardingId);
    if (existing && existing.state !== OnboardingState.Queued) {
      return { onboardingId, created: false };
    }
    await deps.queues[StepName.UploadPackage].add(
      StepName.UploadPackage,
      {
        onboardingId,
        signup: {
          userId: event.user.id,
          email: event.user.email,
          ...(event.user.name ? { name: event.user.name } : {}),
          eventId: event.event_id,
        },
      },
      stepJobOptions(StepName.UploadPackage, onboardingId, deps.queueSettings),
    );
    if (existing) return { onboardingId, created: false };
    const created = await deps.store.create({
      onboardingId,
      userId: event.user.id,
      email: event.user.email,
      name: event.user.name,
      eventId: event.event_id,
    });
    return { onboardingId, created };
  } catch (error) {
    throw new IntakeUnavailableError(error);
  }
}
