import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { waitFor } from '../support/wait-for.ts';
import { readJob, submitSignup, waitForState } from '../support/queues.ts';
import {
  signup,
  startTestService,
  testEnv,
  type TestService,
} from '../support/service.ts';

describe('step failures', () => {
  let sandbox: Sandbox;
  let service: TestService;

  beforeEach(async () => {
    sandbox = await startSandbox();
    service = await startTestService(testEnv(sandbox.env));
  });

  afterEach(async () => {
    await service.stop();
    await sandbox.close();
  });

  it('fails the onboarding on a permanent 400, with its reason, and deletes the package', async () => {
    sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'status',
      status: 400,
      code: 'InvalidInput',
      message: "Field 'config.schema' is invalid",
    });
    const id = await submitSignup(service, signup(1));

    const record = await waitForState(service, id, 'failed');
    expect(record?.failedStep).toBe('create-connection');
    expect(record?.failureCode).toBe('FIVETRAN_REJECTED');
    expect(record?.failureReason).toContain(
      "InvalidInput: Field 'config.schema' is invalid",
    );
    const job = await waitFor(
      () => readJob(service, 'create-connection', id),
      (found) => found?.state === 'failed',
    );
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toContain('FIVETRAN_REJECTED');
    expect(job?.failedReason).toContain('InvalidInput');

    // The package was uploaded, then removed once the onboarding failed.
    const uploads = sandbox.fivetran.requests.filter(
      (request) => request.route === 'upload-package' && request.acted,
    );
    expect(uploads).toHaveLength(1);
    expect(sandbox.fivetran.packages.size).toBe(0);
    expect((await service.store.get(id))?.packageDeletedAt).toBeDefined();
    expect(sandbox.smtp.messages).toHaveLength(0);
  });

  it('retries a transient 5xx on upload and then succeeds', async () => {
    sandbox.fivetran.inject({
      route: 'upload-package',
      kind: 'status',
      status: 503,
      times: 2,
    });
    const id = await submitSignup(service, signup(2));

    await waitForState(service, id, 'email_sent');
    const job = await readJob(service, 'upload-package', id);
    expect(job?.state).toBe('completed');
    expect(job?.attemptsMade).toBe(3);
    expect(sandbox.fivetran.packages.size).toBe(1);
    expect(sandbox.fivetran.connections.size).toBe(1);
    expect(sandbox.smtp.messages).toHaveLength(1);
  });

  it('fails for good when the package is missing from GCS', async () => {
    await service.stop();
    service = await startTestService(
      testEnv(sandbox.env, {
        CONNECTOR_PACKAGE: 'gs://sandbox-connectors/missing.zip',
      }),
    );
    const id = await submitSignup(service, signup(3));

    const record = await waitForState(service, id, 'failed');
    expect(record?.failureCode).toBe('PACKAGE_SOURCE_MISSING');
    expect(sandbox.fivetran.packages.size).toBe(0);
  });

  it('retries when GCS serves bytes that fail the checksum', async () => {
    sandbox.gcs.corruptNextDownloads(1);
    const id = await submitSignup(service, signup(4));

    await waitForState(service, id, 'email_sent');
    const [uploaded] = [...sandbox.fivetran.packages.values()];
    expect(uploaded?.bytes.equals(sandbox.packageZip)).toBe(true);
    expect((await readJob(service, 'upload-package', id))?.attemptsMade).toBe(
      2,
    );
  });

  it('retries a 4xx SMTP reply and fails on a 5xx one', async () => {
    sandbox.smtp.rejectNext(1, 451);
    const retried = await submitSignup(service, signup(5));
    await waitForState(service, retried, 'email_sent');
    expect(sandbox.smtp.messages).toHaveLength(1);

    sandbox.smtp.rejectNext(1, 550);
    const rejected = await submitSignup(service, signup(6));
    const record = await waitForState(service, rejected, 'failed');
    expect(record?.failureCode).toBe('MAIL_REJECTED');
    expect(record?.failedStep).toBe('email-connect-card');
    // The connection stands: an operator can retry the email from the board.
    expect(record?.connectionId).toBeDefined();
    expect(sandbox.smtp.messages).toHaveLength(1);
  });
});
