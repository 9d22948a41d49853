import type { FivetranClient } from '../fivetran/client.ts';
import type { Logger } from '../logger.ts';
import {
  OnboardingState,
  type OnboardingRecord,
  type OnboardingStore,
} from '../onboarding/store.ts';

export interface SweepResult {
  examined: number;
  deleted: string[];
}

/**
 * Deletes unbound packages this service uploaded and no longer needs:
 * - lost: the answer never reached us (the socket reset after Fivetran
 *   stored it, or the worker died before recording it);
 * - spare: another run of the same upload recorded its package first;
 * - left over: the onboarding failed for good and deleting at that moment
 *   failed too.
 * Each carries a ZIP hash we sent and is older than any upload still in
 * flight. Fivetran cannot filter packages, so the whole list is read.
 */
export async function sweepOrphanPackages(
  deps: { fivetran: FivetranClient; store: OnboardingStore },
  options: { minAgeMs: number; log: Logger; now?: () => number },
): Promise<SweepResult> {
  const now = options.now ?? Date.now;
  const result: SweepResult = { examined: 0, deleted: [] };
  let cursor: string | undefined;
  do {
    const page = await deps.fivetran.listPackages(cursor);
    for (const pkg of page.items) {
      result.examined++;
      const ageMs = now() - Date.parse(pkg.created_at);
      if (pkg.connection_id || !(ageMs >= options.minAgeMs)) continue;
      if (!pkg.file_sha256_hash) continue;
      if (!(await deps.store.isUploadedHash(pkg.file_sha256_hash))) continue;
      const owner = await deps.store.ownerOfPackage(pkg.id);
      const record = owner ? await deps.store.get(owner) : undefined;
      if (record && !isSpare(record, pkg.id)) continue;
      try {
        await deps.fivetran.deletePackage(pkg.id);
        if (record?.packageId === pkg.id) {
          await deps.store.recordPackageDeleted(record.onboardingId, pkg.id);
        }
        result.deleted.push(pkg.id);
      } catch (error) {
        // Bound since it was listed, or a passing failure: the next sweep
        // looks again.
        options.log.warn(
          { err: error, packageId: pkg.id },
          'orphan package not deleted',
        );
      }
    }
    cursor = page.nextCursor;
  } while (cursor);
  if (result.deleted.length > 0) {
    options.log.info(
      { deleted: result.deleted, examined: result.examined },
      'orphan packages deleted',
    );
  }
  return result;
}

/** True when the onboarding does not, and will not, use this package. */
function isSpare(record: OnboardingRecord, packageId: string): boolean {
  if (record.packageId !== packageId) return true;
  return record.state === OnboardingState.Failed && !record.connectionId;
}
