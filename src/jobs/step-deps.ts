import type { FivetranClient } from '../fivetran/client.ts';
import type { PackageSource } from '../gcs/package-source.ts';
import type { Logger } from '../logger.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { OnboardingRecord, OnboardingStore } from '../onboarding/store.ts';
import { ErrorCode, ServiceError } from '../errors.ts';

/** What the steps need from the outside world, injected by the worker. */
export interface StepDeps {
  store: OnboardingStore;
  fivetran: FivetranClient;
  packageSource: PackageSource;
  mailer: Mailer;
  settings: {
    groupId: string;
    secretKeys: string[];
    pythonVersion: string | undefined;
    schemaPrefix: string;
    redirectUri: string;
    mailFrom: string;
    /** How long one run may hold the right to send an email. */
    emailClaimMs: number;
  };
}

export interface StepRun {
  onboardingId: string;
  log: Logger;
  signal?: AbortSignal;
}

export async function requireRecord(
  deps: StepDeps,
  onboardingId: string,
): Promise<OnboardingRecord> {
  const record = await deps.store.get(onboardingId);
  if (!record) {
    throw new ServiceError(
      ErrorCode.OnboardingMissing,
      `Onboarding ${onboardingId} has no record`,
    );
  }
  return record;
}
