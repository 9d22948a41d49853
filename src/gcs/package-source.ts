import { createHash } from 'node:crypto';
import type { Storage } from '@google-cloud/storage';
import { ErrorCode, ServiceError } from '../errors.ts';

// Terraform's Fivetran provider refuses larger packages client-side; the
// API's own limit is not documented, so we keep the same bound.
export const MAX_PACKAGE_BYTES = 200 * 1024 * 1024;

export interface ConnectorPackage {
  bytes: Buffer;
  sha256: string;
  /** File name sent with the upload: the object's base name. */
  fileName: string;
  generation: string;
}

export interface PackageSource {
  /** The current ZIP, downloaded with checksum validation. */
  fetch(): Promise<ConnectorPackage>;
}

/**
 * Reads the connector ZIP from GCS. Every user gets the same object, so the
 * bytes are kept per object generation: one metadata read per upload tells
 * whether the object changed, and only a new generation is downloaded again.
 */
export function createPackageSource(
  storage: Storage,
  bucket: string,
  objectName: string,
): PackageSource {
  let cached: ConnectorPackage | undefined;
  const fileName = objectName.split('/').pop() || 'connector.zip';

  return {
    async fetch() {
      const file = storage.bucket(bucket).file(objectName);
      const [metadata] = await withGcsErrors(() => file.getMetadata());
      const generation = String(metadata.generation ?? '');
      if (Number(metadata.size ?? 0) > MAX_PACKAGE_BYTES) {
        throw new ServiceError(
          ErrorCode.PackageTooLarge,
          `gs://${bucket}/${objectName} is ${metadata.size} bytes; the limit is ${MAX_PACKAGE_BYTES}`,
        );
      }
      if (cached && cached.generation === generation) return cached;
      const [bytes] = await withGcsErrors(() =>
        storage
          .bucket(bucket)
          .file(objectName, generation ? { generation } : {})
          .download({ validation: 'crc32c' }),
      );
      cached = {
        bytes,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        fileName,
        generation,
      };
      return cached;
    },
  };
}

async function withGcsErrors<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    const status = (error as { code?: unknown }).code;
    if (status === 404 || status === 403 || status === 401) {
      throw new ServiceError(
        ErrorCode.PackageSourceMissing,
        `Connector package not readable in GCS (${status}): ${(error as Error).message}`,
        { httpStatus: status },
        { cause: error },
      );
    }
    throw new ServiceError(
      ErrorCode.PackageSourceUnavailable,
      `Reading the connector package from GCS failed: ${(error as Error).message}`,
      typeof status === 'number' ? { httpStatus: status } : {},
      { cause: error },
    );
  }
}
