import { ErrorCode, ServiceError } from '../errors.ts';
import { requireRecord, type StepDeps, type StepRun } from './step-deps.ts';

export interface UploadPackageResult {
  packageId: string;
  reused: boolean;
}

/**
 * Uploads the connector ZIP as a package of this onboarding's own: Fivetran
 * binds a package to one connection, so every user needs a fresh one. A
 * package already recorded for the onboarding is reused, never uploaded
 * twice.
 */
export async function uploadPackage(
  deps: StepDeps,
  run: StepRun,
): Promise<UploadPackageResult> {
  const record = await requireRecord(deps, run.onboardingId);
  if (record.packageId) {
    run.log.info({ packageId: record.packageId }, 'package already uploaded');
    return { packageId: record.packageId, reused: true };
  }
  const zip = await deps.packageSource.fetch();
  await deps.store.noteUploadedHash(zip.sha256);
  const uploaded = await deps.fivetran.uploadPackage(
    zip.bytes,
    zip.fileName,
    run.signal,
  );
  if (uploaded.file_sha256_hash?.toLowerCase() !== zip.sha256) {
    // Fivetran stored different bytes than we sent: that package is useless,
    // so remove it before trying again rather than leave an orphan.
    await deps.fivetran.deletePackage(uploaded.id, run.signal);
    throw new ServiceError(
      ErrorCode.PackageHashMismatch,
      `Package ${uploaded.id} hash ${uploaded.file_sha256_hash} does not match the ZIP sent (${zip.sha256})`,
    );
  }
  const standing = await deps.store.recordPackage(
    run.onboardingId,
    uploaded.id,
  );
  if (standing !== uploaded.id) {
    // Another run of this step recorded its package first; ours is spare.
    await deps.fivetran.deletePackage(uploaded.id, run.signal);
    run.log.info({ packageId: standing }, 'package recorded by another run');
    return { packageId: standing, reused: true };
  }
  run.log.info(
    { packageId: uploaded.id, bytes: zip.bytes.length },
    'package uploaded',
  );
  return { packageId: uploaded.id, reused: false };
}
