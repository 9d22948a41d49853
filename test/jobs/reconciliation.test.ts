import { describe, expect, it } from 'vitest';
import { readJob, submitSignup, waitForState } from '../support/queues.ts';
import { signup } from '../support/service.ts';
import { useSandboxService } from '../support/fixtures.ts';
import { waitFor } from '../support/wait-for.ts';

describe('uncertain outcomes', () => {
  const ctx = useSandboxService();

  it('adopts the connection when the socket resets after Fivetran created it', async () => {
    ctx.sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'reset',
      when: 'after',
    });
    const id = await submitSignup(ctx.service, signup(1));

    const record = await waitForState(ctx.service, id, 'email_sent');
    const creates = ctx.sandbox.fivetran.requests.filter(
      (request) => request.route === 'create-connection',
    );
    expect(creates).toHaveLength(1);
    expect(creates[0]?.acted).toBe(true);
    expect(ctx.sandbox.fivetran.connections.size).toBe(1);
    const [connection] = [...ctx.sandbox.fivetran.connections.values()];
    expect(record?.connectionId).toBe(connection?.id);
    // The retry found it by schema and asked for a fresh Connect Card.
    const cards = ctx.sandbox.fivetran.requests.filter(
      (request) => request.route === 'connect-card',
    );
    expect(cards.map((request) => request.status)).toEqual([200]);
    const [mail] = ctx.sandbox.smtp.messages;
    expect(mail?.text).toContain(`auth=${connection?.connect_card_token}`);
    expect(
      (await readJob(ctx.service, 'create-connection', id))?.attemptsMade,
    ).toBe(2);
  });

  it('recovers from a failed lookup followed by a create lost after it acted', async () => {
    ctx.sandbox.fivetran.inject({
      route: 'list-connections',
      kind: 'reset',
      when: 'before',
    });
    ctx.sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'reset',
      when: 'after',
    });
    // The first attempt dies on the lookup; the second on the create after
    // it acted; the third finds it by schema.
    const id = await submitSignup(ctx.service, signup(2));
    await waitForState(ctx.service, id, 'email_sent');
    expect(ctx.sandbox.fivetran.connections.size).toBe(1);
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);
  });

  it('creates nothing twice when the socket resets before Fivetran acts', async () => {
    ctx.sandbox.fivetran.inject({
      route: 'upload-package',
      kind: 'reset',
      when: 'before',
    });
    ctx.sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'reset',
      when: 'before',
    });
    const id = await submitSignup(ctx.service, signup(3));
    await waitForState(ctx.service, id, 'email_sent');
    expect(ctx.sandbox.fivetran.packages.size).toBe(1);
    expect(ctx.sandbox.fivetran.connections.size).toBe(1);
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);
  });
});

describe('orphan package sweep', () => {
  const ctx = useSandboxService({
    env: {
      ORPHAN_SWEEP_INTERVAL_MS: '300',
      ORPHAN_PACKAGE_AGE_MS: '1000',
    },
  });

  it('deletes the package of a failed onboarding when deleting it at failure time failed', async () => {
    ctx.sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'status',
      status: 400,
      code: 'InvalidInput',
    });
    ctx.sandbox.fivetran.inject({
      route: 'delete-package',
      kind: 'status',
      status: 503,
    });
    const id = await submitSignup(ctx.service, signup(2));
    await waitForState(ctx.service, id, 'failed');

    await waitFor(
      async () => ctx.sandbox.fivetran.packages.size,
      (size) => size === 0,
    );
    const record = await waitFor(
      () => ctx.service.store.get(id),
      (found) => found?.deletedPackageId !== undefined,
    );
    expect(record?.packageId).toBeUndefined();
  });

  it('deletes a package whose upload answer was lost, and only that one', async () => {
    ctx.sandbox.fivetran.inject({
      route: 'upload-package',
      kind: 'reset',
      when: 'after',
    });
    const id = await submitSignup(ctx.service, signup(1));
    const record = await waitForState(ctx.service, id, 'email_sent');
    expect(
      ctx.sandbox.fivetran.requests.filter(
        (request) => request.route === 'upload-package' && request.acted,
      ),
    ).toHaveLength(2);

    await waitFor(
      async () => ctx.sandbox.fivetran.packages.size,
      (size) => size === 1,
    );
    const [kept] = [...ctx.sandbox.fivetran.packages.values()];
    expect(kept?.id).toBe(record?.packageId);
    expect(kept?.connection_id).toBe(record?.connectionId);
  });
});

describe('timeouts', () => {
  const ctx = useSandboxService({ env: { FIVETRAN_TIMEOUT_MS: '1000' } });

  it('adopts the connection a timed-out create made anyway', async () => {
    ctx.sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'latency',
      ms: 1500,
    });
    const id = await submitSignup(ctx.service, signup(9));

    const record = await waitForState(ctx.service, id, 'email_sent');
    const creates = ctx.sandbox.fivetran.requests.filter(
      (request) => request.route === 'create-connection',
    );
    // The retry's lookup usually runs before the slow create has acted, so
    // it creates again and gets 409, and adopts; or it finds it at once.
    expect(creates.map((request) => request.status).slice(1)).toEqual(
      creates.length === 2 ? [409] : [],
    );
    expect(ctx.sandbox.fivetran.connections.size).toBe(1);
    const [connection] = [...ctx.sandbox.fivetran.connections.values()];
    expect(record?.connectionId).toBe(connection?.id);
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);
  });
});

describe('a 409 with nothing to adopt', () => {
  const ctx = useSandboxService();

  it('is retried, not a final failure', async () => {
    ctx.sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'status',
      status: 409,
      code: 'Conflict',
    });
    const id = await submitSignup(ctx.service, signup(10));

    await waitForState(ctx.service, id, 'email_sent');
    const creates = ctx.sandbox.fivetran.requests.filter(
      (request) => request.route === 'create-connection',
    );
    expect(creates.map((request) => request.status)).toEqual([409, 201]);
    expect(ctx.sandbox.fivetran.connections.size).toBe(1);
  });
});
