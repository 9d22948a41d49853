import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { readJob, submitSignup, waitForState } from '../support/queues.ts';
import {
  signup,
  startTestService,
  testEnv,
  type TestService,
} from '../support/service.ts';
import { waitFor } from '../support/wait-for.ts';

describe('uncertain outcomes', () => {
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

  it('adopts the connection when the socket resets after Fivetran created it', async () => {
    sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'reset',
      when: 'after',
    });
    const id = await submitSignup(service, signup(1));

    const record = await waitForState(service, id, 'email_sent');
    const creates = sandbox.fivetran.requests.filter(
      (request) => request.route === 'create-connection',
    );
    expect(creates).toHaveLength(1);
    expect(creates[0]?.acted).toBe(true);
    expect(sandbox.fivetran.connections.size).toBe(1);
    const [connection] = [...sandbox.fivetran.connections.values()];
    expect(record?.connectionId).toBe(connection?.id);
    // The retry found it by schema and asked for a fresh Connect Card.
    const [mail] = sandbox.smtp.messages;
    expect(mail?.text).toContain('/connect-card/setup?');
    expect(
      (await readJob(service, 'create-connection', id))?.attemptsMade,
    ).toBe(2);
  });

  it('recovers from a failed lookup followed by a create lost after it acted', async () => {
    sandbox.fivetran.inject({
      route: 'list-connections',
      kind: 'reset',
      when: 'before',
    });
    sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'reset',
      when: 'after',
    });
    // The first attempt dies on the lookup; the second on the create after
    // it acted; the third finds it by schema.
    const id = await submitSignup(service, signup(2));
    await waitForState(service, id, 'email_sent');
    expect(sandbox.fivetran.connections.size).toBe(1);
    expect(sandbox.smtp.messages).toHaveLength(1);
  });

  it('creates nothing twice when the socket resets before Fivetran acts', async () => {
    sandbox.fivetran.inject({
      route: 'upload-package',
      kind: 'reset',
      when: 'before',
    });
    sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'reset',
      when: 'before',
    });
    const id = await submitSignup(service, signup(3));
    await waitForState(service, id, 'email_sent');
    expect(sandbox.fivetran.packages.size).toBe(1);
    expect(sandbox.fivetran.connections.size).toBe(1);
    expect(sandbox.smtp.messages).toHaveLength(1);
  });
});

describe('orphan package sweep', () => {
  let sandbox: Sandbox;
  let service: TestService;

  beforeEach(async () => {
    sandbox = await startSandbox();
    service = await startTestService(
      testEnv(sandbox.env, {
        ORPHAN_SWEEP_INTERVAL_MS: '300',
        ORPHAN_PACKAGE_AGE_MS: '1000',
      }),
    );
  });

  afterEach(async () => {
    await service.stop();
    await sandbox.close();
  });

  it('deletes a package whose upload answer was lost, and only that one', async () => {
    sandbox.fivetran.inject({
      route: 'upload-package',
      kind: 'reset',
      when: 'after',
    });
    const id = await submitSignup(service, signup(1));
    const record = await waitForState(service, id, 'email_sent');
    expect(
      sandbox.fivetran.requests.filter(
        (request) => request.route === 'upload-package' && request.acted,
      ),
    ).toHaveLength(2);

    await waitFor(
      async () => sandbox.fivetran.packages.size,
      (size) => size === 1,
    );
    const [kept] = [...sandbox.fivetran.packages.values()];
    expect(kept?.id).toBe(record?.packageId);
    expect(kept?.connection_id).toBe(record?.connectionId);
  });
});
