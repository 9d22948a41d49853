import { Storage } from '@google-cloud/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGcsFake, type GcsFake } from '../../src/sandbox/gcs-fake.ts';

const BUCKET = 'sandbox-connectors';
const OBJECT = 'connectors/example/connector.zip';
const BYTES = Buffer.from('zip bytes '.repeat(500));

let gcs: GcsFake;

beforeEach(async () => {
  gcs = await startGcsFake();
  gcs.putObject(BUCKET, OBJECT, BYTES);
});

afterEach(async () => {
  await gcs.close();
  delete process.env.STORAGE_EMULATOR_HOST;
});

function storageViaApiEndpoint(): Storage {
  return new Storage({
    apiEndpoint: gcs.url,
    projectId: 'test',
    retryOptions: { autoRetry: false },
  });
}

describe('GCS fake with @google-cloud/storage', () => {
  it('serves metadata and a validated download via apiEndpoint', async () => {
    const file = storageViaApiEndpoint().bucket(BUCKET).file(OBJECT);
    const [metadata] = await file.getMetadata();
    expect(metadata.size).toBe(String(BYTES.length));
    const [downloaded] = await file.download({ validation: 'crc32c' });
    expect(downloaded.equals(BYTES)).toBe(true);
    const [md5Checked] = await file.download({ validation: 'md5' });
    expect(md5Checked.equals(BYTES)).toBe(true);
    expect(gcs.requests.map((r) => r.path)).toContain(
      `/storage/v1/b/${BUCKET}/o/${encodeURIComponent(OBJECT)}`,
    );
  });

  it('serves the STORAGE_EMULATOR_HOST path layout', async () => {
    process.env.STORAGE_EMULATOR_HOST = gcs.url;
    const storage = new Storage({ projectId: 'test' });
    const [downloaded] = await storage.bucket(BUCKET).file(OBJECT).download();
    expect(downloaded.equals(BYTES)).toBe(true);
    expect(gcs.requests.at(-1)).toMatchObject({
      path: `/b/${BUCKET}/o/${encodeURIComponent(OBJECT)}`,
      query: '?alt=media',
    });
  });

  it('makes the client report CONTENT_DOWNLOAD_MISMATCH on corruption', async () => {
    gcs.corruptNextDownloads(1);
    const file = storageViaApiEndpoint().bucket(BUCKET).file(OBJECT);
    await expect(file.download()).rejects.toMatchObject({
      code: 'CONTENT_DOWNLOAD_MISMATCH',
    });
    const [retried] = await file.download();
    expect(retried.equals(BYTES)).toBe(true);
  });

  it('answers a missing object with 404 and injected failures with their status', async () => {
    const bucket = storageViaApiEndpoint().bucket(BUCKET);
    await expect(bucket.file('nope.zip').download()).rejects.toMatchObject({
      code: 404,
    });
    gcs.failNextRequests(1, 503);
    await expect(bucket.file(OBJECT).getMetadata()).rejects.toMatchObject({
      code: 503,
    });
    const [metadata] = await bucket.file(OBJECT).getMetadata();
    expect(metadata.name).toBe(OBJECT);
  });

  // Metadata only: a retried download() in storage 8.4 leaks unhandled
  // ERR_STREAM_UNABLE_TO_PIPE rejections from teeny-request.
  it('lets the client retry metadata through transient 503s', async () => {
    gcs.failNextRequests(2, 503);
    const storage = new Storage({
      apiEndpoint: gcs.url,
      projectId: 'test',
      retryOptions: {
        retryDelayMultiplier: 1,
        maxRetries: 3,
        totalTimeout: 10,
      },
    });
    const [metadata] = await storage.bucket(BUCKET).file(OBJECT).getMetadata();
    expect(metadata.size).toBe(String(BYTES.length));
    expect(gcs.requests).toHaveLength(3);
  });
});
