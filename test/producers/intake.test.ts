import { describe, expect, it } from 'vitest';
import { useSandboxService } from '../support/fixtures.ts';
import { BOARD_PASSWORD, BOARD_USER, signup } from '../support/service.ts';

describe('HTTP intake', () => {
  // No workers: these tests are about what the intake accepts and stores.
  const ctx = useSandboxService({ role: 'http', shared: true });

  it('answers 401 without the bearer token or with a wrong one', async () => {
    const wrong = await ctx.service.postSignup(signup(1), 'not-the-token');
    expect(wrong.status).toBe(401);
    const none = await fetch(`${ctx.service.url}/signups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(signup(1)),
    });
    expect(none.status).toBe(401);
    expect(await ctx.service.store.get('onb_000000000000000000000000')).toBe(
      undefined,
    );
  });

  it('answers 400 naming every failing field', async () => {
    const response = await ctx.service.postSignup({
      event_id: '',
      user: { id: 42, email: 'not-an-email', nickname: 'x' },
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as {
      error: string;
      fields: { field: string; message: string }[];
    };
    expect(body.error).toBe('invalid_body');
    expect(body.fields.map((problem) => problem.field).sort()).toEqual([
      'event_id',
      'user.email',
      'user.id',
      'user.nickname',
    ]);
  });

  it('answers 400 for a missing user and for malformed JSON', async () => {
    const missing = await ctx.service.postSignup({ event_id: 'e1' });
    expect(missing.status).toBe(400);
    const body = (await missing.json()) as { fields: { field: string }[] };
    expect(body.fields).toEqual([{ field: 'user', message: 'is required' }]);

    const malformed = await fetch(`${ctx.service.url}/signups`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${ctx.service.config.intakeToken}`,
      },
      body: '{"event_id": ',
    });
    expect(malformed.status).toBe(400);
  });

  it('stores an accepted signup and reports it without the link', async () => {
    const response = await ctx.service.postSignup(signup(7));
    expect(response.status).toBe(202);
    const { onboarding_id: id } = (await response.json()) as {
      onboarding_id: string;
    };
    const job = await ctx.service.redis.exists(
      `${ctx.service.config.queuePrefix}:upload-package:upload-package-${id}`,
    );
    expect(job).toBe(1);

    const status = await fetch(`${ctx.service.url}/signups/${id}`, {
      headers: { authorization: `Bearer ${ctx.service.config.intakeToken}` },
    });
    expect(status.status).toBe(200);
    const view = (await status.json()) as Record<string, unknown>;
    expect(view).toMatchObject({
      onboarding_id: id,
      state: 'queued',
      user: { id: 'user-7', email: 'user7@example.com', name: 'User 7' },
    });
    expect(JSON.stringify(view)).not.toContain('connect-card');
  });

  it('answers 404 for an unknown onboarding and 401 without token', async () => {
    const unknown = await fetch(
      `${ctx.service.url}/signups/onb_ffffffffffffffffffffffff`,
      {
        headers: { authorization: `Bearer ${ctx.service.config.intakeToken}` },
      },
    );
    expect(unknown.status).toBe(404);
    const anonymous = await fetch(
      `${ctx.service.url}/signups/onb_ffffffffffffffffffffffff`,
    );
    expect(anonymous.status).toBe(401);
  });

  it('keeps Bull Board behind basic auth and shows every queue', async () => {
    const anonymous = await fetch(`${ctx.service.url}/admin/queues/api/queues`);
    expect(anonymous.status).toBe(401);
    const wrong = await fetch(`${ctx.service.url}/admin/queues/api/queues`, {
      headers: { authorization: basic(BOARD_USER, 'wrong-password') },
    });
    expect(wrong.status).toBe(401);
    const operator = await fetch(`${ctx.service.url}/admin/queues/api/queues`, {
      headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD) },
    });
    expect(operator.status).toBe(200);
    const body = (await operator.json()) as { queues: { name: string }[] };
    expect(body.queues.map((queue) => queue.name).sort()).toEqual([
      'create-connection',
      'email-connect-card',
      'maintenance',
      'upload-package',
    ]);
    const page = await fetch(`${ctx.service.url}/admin/queues`, {
      headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD) },
    });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
  });
});

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

describe('HTTP intake, awkward input', () => {
  const ctx = useSandboxService({ role: 'http', shared: true });

  function post(body: string, contentType: string, auth?: string) {
    return fetch(`${ctx.service.url}/signups`, {
      method: 'POST',
      headers: {
        'content-type': contentType,
        authorization: auth ?? `Bearer ${ctx.service.config.intakeToken}`,
      },
      body,
    });
  }

  it('says a wrongly typed field must be of its type, not that it is missing', async () => {
    const response = await ctx.service.postSignup({
      event_id: 1,
      user: { id: 123, email: ['x'], name: 5 },
    });
    const body = (await response.json()) as {
      fields: { field: string; message: string }[];
    };
    expect(body.fields).toEqual(
      expect.arrayContaining([
        { field: 'event_id', message: 'must be a string' },
        { field: 'user.id', message: 'must be a string' },
        { field: 'user.name', message: 'must be a string' },
      ]),
    );
    const notAnObject = await ctx.service.postSignup([]);
    expect(await notAnObject.json()).toMatchObject({
      fields: [{ field: '(body)', message: 'must be an object' }],
    });
  });

  it('answers 415 for a body that is not JSON and 413 for a huge one', async () => {
    const json = JSON.stringify(signup(1));
    expect((await post(json, 'text/plain')).status).toBe(415);
    expect(
      (await post('a=1', 'application/x-www-form-urlencoded')).status,
    ).toBe(415);
    const huge = JSON.stringify({ ...signup(1), pad: 'x'.repeat(100_000) });
    const tooLarge = await post(huge, 'application/json');
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: 'body_too_large' });
  });

  it('accepts the bearer scheme in any case', async () => {
    const json = JSON.stringify(signup(2));
    const response = await post(
      json,
      'application/json',
      `bearer ${ctx.service.config.intakeToken}`,
    );
    expect(response.status).toBe(202);
  });

  it('treats a user id typed in two Unicode forms as one user', async () => {
    const composed = await ctx.service.postSignup({
      event_id: 'e-nfc',
      user: { id: 'caf\u00e9', email: 'cafe@example.com' },
    });
    const decomposed = await ctx.service.postSignup({
      event_id: 'e-nfd',
      user: { id: 'cafe\u0301', email: 'cafe@example.com' },
    });
    const ids = await Promise.all(
      [composed, decomposed].map(
        async (response) =>
          ((await response.json()) as { onboarding_id: string }).onboarding_id,
      ),
    );
    expect(ids[0]).toBe(ids[1]);
  });

  it('accepts an internationalised address and a blank name as no name', async () => {
    const response = await ctx.service.postSignup({
      event_id: 'e-idn',
      user: { id: 'idn', email: 'üñí@exämple.com', name: '   ' },
    });
    expect(response.status).toBe(202);
    const { onboarding_id: id } = (await response.json()) as {
      onboarding_id: string;
    };
    const record = await ctx.service.store.get(id);
    expect(record?.email).toBe('üñí@exämple.com');
    expect(record?.name).toBeUndefined();
  });
});
