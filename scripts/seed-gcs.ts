// Puts the example connector's ZIP where CONNECTOR_PACKAGE points, in a GCS
// emulator (fake-gcs-server in docker-compose). Never aimed at real GCS: it
// refuses to run without STORAGE_EMULATOR_HOST.
import { Storage } from '@google-cloud/storage';
import { buildConnectorZip } from '../src/sandbox/connector-zip.ts';

const target = process.env.CONNECTOR_PACKAGE ?? '';
const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(target);
if (!process.env.STORAGE_EMULATOR_HOST || !match) {
  console.error(
    'seed-gcs needs STORAGE_EMULATOR_HOST and CONNECTOR_PACKAGE=gs://bucket/object',
  );
  process.exit(2);
}
const [, bucketName, objectName] = match as unknown as [string, string, string];
const storage = new Storage({ projectId: 'local' });
const bucket = storage.bucket(bucketName);
const [exists] = await bucket.exists();
if (!exists) await storage.createBucket(bucketName);
await bucket.file(objectName).save(buildConnectorZip(), {
  contentType: 'application/zip',
  resumable: false,
});
console.log(`seeded ${target}`);
