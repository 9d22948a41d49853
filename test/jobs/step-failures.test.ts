import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait-for.ts';
import {
  readJob,
  submitSignup,
  waitForJobState,
  waitForState,
} from '../support/queues.ts';
import { signup, startTestService, testEnv } from '../support/service.ts';
import { useSandboxService } from '../support/fixtures.ts';

describe('step failures', () => {
  const ctx = useSandboxService();

  it('fails the onboarding on a permanent 400, with its reason, and deletes the package', async () => {
    ctx.sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'status',
      status: 400,
      code: 'InvalidInput',
      message: "Field 'config.schema' is invalid",
    });
    const id = await submitSignup(ctx.service, signup(1));

    const record = await waitForState(ctx.service, id, 'failed');
    expect(record?.failedStep).toBe('create-connection');
    expect(record?.failureCode).toBe('FIVETRAN_REJECTED');
    expect(record?.failureReason).toContain(
      "InvalidInput: Field 'config.schema' is invalid",
    );
    const job = await waitForJobState(
      ctx.service,
      'create-connection',
      id,
      'failed',
    );
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toContain('FIVETRAN_REJECTED');
    expect(job?.failedReason).toContain('InvalidInput');

    // The package was uploaded, then removed once the onboarding failed.
    const uploads = ctx.sandbox.fivetran.requests.filter(
      (request) => request.route === 'upload-package' && request.acted,
    );
    expect(uploads).toHaveLength(1);
    expect(ctx.sandbox.fivetran.packages.size).toBe(0);
    expect((await ctx.service.store.get(id))?.packageDeletedAt).toBeDefined();
    expect(ctx.sandbox.smtp.messages).toHaveLength(0);
  });

  it('retries a transient 5xx on upload and then succeeds', async () => {
    ctx.sandbox.fivetran.inject({
      route: 'upload-package',
      kind: 'status',
      status: 503,
      times: 2,
    });
    const id = await submitSignup(ctx.service, signup(2));

    await waitForState(ctx.service, id, 'email_sent');
    const job = await readJob(ctx.service, 'upload-package', id);
    expect(job?.state).toBe('completed');
    expect(job?.attemptsMade).toBe(3);
    expect(ctx.sandbox.fivetran.packages.size).toBe(1);
    expect(ctx.sandbox.fivetran.connections.size).toBe(1);
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);
  });

  it('fails for good when the package is missing from GCS', async () => {
    await ctx.service.stop();
    ctx.service = await startTestService(
      testEnv(ctx.sandbox.env, {
        CONNECTOR_PACKAGE: 'gs://sandbox-connectors/missing.zip',
      }),
    );
    const id = await submitSignup(ctx.service, signup(3));

    const record = await waitForState(ctx.service, id, 'failed');
    expect(record?.failureCode).toBe('PACKAGE_SOURCE_MISSING');
    expect(ctx.sandbox.fivetran.packages.size).toBe(0);
  });

  it('retries when GCS serves bytes that fail the checksum', async () => {
    ctx.sandbox.gcs.corruptNextDownloads(1);
    const id = await submitSignup(ctx.service, signup(4));

    await waitForState(ctx.service, id, 'email_sent');
    const [uploaded] = [...ctx.sandbox.fivetran.packages.values()];
    expect(uploaded?.bytes.equals(ctx.sandbox.packageZip)).toBe(true);
    expect(
      (await readJob(ctx.service, 'upload-package', id))?.attemptsMade,
    ).toBe(2);
  });

  it('retries a 4xx SMTP reply and fails on a 5xx one', async () => {
    ctx.sandbox.smtp.rejectNext(1, 451);
    const retried = await submitSignup(ctx.service, signup(5));
    await waitForState(ctx.service, retried, 'email_sent');
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);

    ctx.sandbox.smtp.rejectNext(1, 550);
    const rejected = await submitSignup(ctx.service, signup(6));
    const record = await waitForState(ctx.service, rejected, 'failed');
    expect(record?.failureCode).toBe('MAIL_REJECTED');
    expect(record?.failedStep).toBe('email-connect-card');
    // The connection stands: an operator can retry the email from the board.
    expect(record?.connectionId).toBeDefined();
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);
  });
});

describe('operator retry from Bull Board', () => {
  const ctx = useSandboxService();

  async function retryJob(step: string, onboardingId: string) {
    const { config, url } = ctx.service;
    const login = `${config.board?.user}:${config.board?.password}`;
    const response = await fetch(
      `${url}/admin/queues/api/queues/${step}/${step}-${onboardingId}/retry`,
      {
        method: 'PUT',
        headers: {
          authorization: `Basic ${Buffer.from(login).toString('base64')}`,
        },
      },
    );
    expect(response.status).toBeLessThan(300);
  }

  it('carries a failed connection step on, with a new package', async () => {
    ctx.sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'status',
      status: 400,
      code: 'InvalidInput',
    });
    const id = await submitSignup(ctx.service, signup(7));
    await waitForJobState(ctx.service, 'create-connection', id, 'failed');
    expect(ctx.sandbox.fivetran.packages.size).toBe(0);

    await retryJob('create-connection', id);
    const record = await waitForState(ctx.service, id, 'email_sent');
    const [bound] = [...ctx.sandbox.fivetran.packages.values()];
    expect(ctx.sandbox.fivetran.packages.size).toBe(1);
    expect(bound?.connection_id).toBe(record?.connectionId);
    expect(record?.packageId).toBe(bound?.id);
    expect(record?.deletedPackageId).not.toBe(bound?.id);
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);
  });

  it('sends the email once the mail step is retried after a refusal', async () => {
    ctx.sandbox.smtp.rejectNext(1, 550);
    const id = await submitSignup(ctx.service, signup(8));
    await waitForJobState(ctx.service, 'email-connect-card', id, 'failed');

    await retryJob('email-connect-card', id);
    await waitForState(ctx.service, id, 'email_sent');
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);
    expect(ctx.sandbox.fivetran.connections.size).toBe(1);
  });

  it('resumes at the failed step when an earlier step is retried', async () => {
    ctx.sandbox.smtp.rejectNext(1, 550);
    const id = await submitSignup(ctx.service, signup(9));
    await waitForJobState(ctx.service, 'email-connect-card', id, 'failed');

    await retryJob('upload-package', id);
    await waitForState(ctx.service, id, 'email_sent');
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);
    expect(ctx.sandbox.fivetran.packages.size).toBe(1);
  });

  it('deletes the new package too when the retried step fails again', async () => {
    ctx.sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'status',
      status: 400,
      code: 'InvalidInput',
      times: 2,
    });
    const id = await submitSignup(ctx.service, signup(11));
    const failedJob = () =>
      waitForJobState(ctx.service, 'create-connection', id, 'failed');
    await failedJob();
    const first = (await ctx.service.store.get(id))?.deletedPackageId;

    await retryJob('create-connection', id);
    await waitFor(
      () => ctx.service.store.get(id),
      (record) =>
        record?.deletedPackageId !== undefined &&
        record.deletedPackageId !== first,
    );
    expect(ctx.sandbox.fivetran.packages.size).toBe(0);
    const uploads = ctx.sandbox.fivetran.requests.filter(
      (request) => request.route === 'upload-package' && request.acted,
    );
    expect(uploads).toHaveLength(2);
  });
});
