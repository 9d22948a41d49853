import { createHash } from 'node:crypto';
import { FormData, request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startFivetranSimulator,
  type FivetranSimulator,
} from '../../src/sandbox/fivetran-simulator.ts';

const API_KEY = 'key';
const API_SECRET = 'secret';
const GROUP_ID = 'projected_sickle';
const ZIP_BYTES = Buffer.from('PK\u0003\u0004 not really a zip, but bytes');

interface CallOptions {
  json?: unknown;
  form?: FormData;
  auth?: string;
  headers?: Record<string, string>;
}

let sim: FivetranSimulator;

beforeEach(async () => {
  sim = await startFivetranSimulator({
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    groupIds: [GROUP_ID],
  });
});

afterEach(async () => {
  await sim.close();
});

function basicAuth(key = API_KEY, secret = API_SECRET): string {
  return `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}`;
}

async function call(method: string, path: string, opts: CallOptions = {}) {
  const headers: Record<string, string> = {
    authorization: opts.auth ?? basicAuth(),
    accept: 'application/json;version=2',
    ...opts.headers,
  };
  let body: string | FormData | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    body = opts.form;
  }
  const response = await request(`${sim.url}${path}`, {
    method: method as 'GET',
    headers,
    body,
  });
  const json = (await response.body.json()) as {
    code: string;
    message?: string;
    data?: Record<string, unknown> & {
      items?: Record<string, unknown>[];
      next_cursor?: string;
    };
  };
  return { status: response.statusCode, headers: response.headers, json };
}

async function uploadPackage(bytes = ZIP_BYTES): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), 'code.zip');
  const { status, json } = await call('POST', '/v1/connector-sdk/packages', {
    form,
  });
  expect(status).toBe(201);
  return json.data?.id as string;
}

function connectionBody(packageId: string, schema = 'acme_customer_42') {
  return {
    group_id: GROUP_ID,
    service: 'connector_sdk',
    run_setup_tests: false,
    paused: true,
    sync_frequency: 360,
    destination_schema_names: 'FIVETRAN_NAMING',
    connect_card_config: {
      redirect_uri: 'https://app.example.com/return?onboarding=abc',
      hide_setup_guide: true,
    },
    config: {
      schema,
      package_id: packageId,
      secrets_list: [
        { key: 'API_KEY', value: '' },
        { key: 'API_SECRET', value: '' },
      ],
    },
  };
}

async function createConnection(schema = 'acme_customer_42') {
  const packageId = await uploadPackage();
  return call('POST', '/v1/connections', {
    json: connectionBody(packageId, schema),
  });
}

describe('authentication and headers', () => {
  it('rejects a wrong secret and a missing header with 401 AuthFailed', async () => {
    const wrong = await call('GET', '/v1/connector-sdk/packages', {
      auth: basicAuth(API_KEY, 'nope'),
    });
    const missing = await call('GET', '/v1/connections', { auth: '' });
    expect(wrong.status).toBe(401);
    expect(wrong.json.code).toBe('AuthFailed');
    expect(missing.status).toBe(401);
    expect(sim.requests.map((r) => r.status)).toEqual([401, 401]);
  });

  it('refuses unsupported Accept and non-JSON bodies', async () => {
    const xml = await call('GET', '/v1/connections', {
      headers: { accept: 'application/xml' },
    });
    expect(xml.status).toBe(406);
    const text = await call('POST', '/v1/connections', {
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
  });

  it('answers the deprecated /v1/connectors alias with 404 NotFound', async () => {
    const { status, json } = await call('GET', '/v1/connectors/abc');
    expect(status).toBe(404);
    expect(json).toEqual({ code: 'NotFound', message: 'HTTP 404 Not Found' });
  });
});

describe('packages', () => {
  it('stores the upload and reports its lowercase hex sha256', async () => {
    const id = await uploadPackage();
    const { json } = await call('GET', `/v1/connector-sdk/packages/${id}`);
    const expected = createHash('sha256').update(ZIP_BYTES).digest('hex');
    expect(json.data?.file_sha256_hash).toBe(expected);
    expect(json.data?.connection_id).toBeNull();
    expect(id).toMatch(/^[a-z]+_[a-z]+_\d+$/);
    expect(sim.packages.get(id)?.bytes.equals(ZIP_BYTES)).toBe(true);
  });

  it('rejects an upload without the file field', async () => {
    const form = new FormData();
    form.append('other', 'x');
    const { status, json } = await call('POST', '/v1/connector-sdk/packages', {
      form,
    });
    expect(status).toBe(400);
    expect(json.code).toBe('InvalidInput');
  });

  it('forbids deleting a bound package until its connection is gone', async () => {
    const created = await createConnection();
    const connectionId = created.json.data?.id as string;
    const packageId = sim.connections.get(connectionId)?.package_id as string;
    const bound = await call(
      'DELETE',
      `/v1/connector-sdk/packages/${packageId}`,
    );
    expect(bound.status).toBe(403);

    await call('DELETE', `/v1/connections/${connectionId}`);
    expect(sim.packages.get(packageId)?.connection_id).toBeNull();
    const freed = await call(
      'DELETE',
      `/v1/connector-sdk/packages/${packageId}`,
    );
    expect(freed.status).toBe(200);
    const gone = await call(
      'DELETE',
      `/v1/connector-sdk/packages/${packageId}`,
    );
    expect(gone.json.code).toBe('NotFound_ConnectorSdkPackage');
  });
});

describe('connections', () => {
  it('creates a paused, incomplete connection with a Connect Card', async () => {
    const { status, json } = await createConnection();
    expect(status).toBe(201);
    const data = json.data as unknown as {
      id: string;
      paused: boolean;
      status: { setup_state: string };
      config: { package_id: string; secrets_list: unknown };
      connect_card: { token: string; uri: string };
    };
    expect(data.status.setup_state).toBe('incomplete');
    expect(data.paused).toBe(true);
    expect(data.config.secrets_list).toEqual([
      { key: 'API_KEY', value: '******' },
      { key: 'API_SECRET', value: '******' },
    ]);
    const token = data.connect_card.token;
    expect(token.split('.')).toHaveLength(3);
    expect(data.connect_card.uri).toBe(
      `https://fivetran.com/connect-card/setup?redirect_uri=https://app.example.com/return?onboarding=abc&auth=${token}&hide_setup_guide=true`,
    );
    expect(sim.packages.get(data.config.package_id)?.connection_id).toBe(
      data.id,
    );
  });

  it('returns 409 Conflict for a duplicate schema in the group', async () => {
    await createConnection('dup_schema');
    const second = await createConnection('dup_schema');
    expect(second.status).toBe(409);
    expect(second.json.code).toBe('Conflict');
    expect(sim.connections.size).toBe(1);
  });

  it('validates schema names, unknown groups and bound packages', async () => {
    const packageId = await uploadPackage();
    const badSchema = await call('POST', '/v1/connections', {
      json: connectionBody(packageId, 'Bad-Name'),
    });
    expect(badSchema.json.code).toBe('InvalidInput');
    const badGroup = await call('POST', '/v1/connections', {
      json: { ...connectionBody(packageId), group_id: 'nope' },
    });
    expect(badGroup.json.code).toBe('NotFound_Group');
    await call('POST', '/v1/connections', { json: connectionBody(packageId) });
    const rebound = await call('POST', '/v1/connections', {
      json: connectionBody(packageId, 'other_schema'),
    });
    expect(rebound.status).toBe(409);
  });

  it('lists by exact schema and pages with an opaque cursor', async () => {
    for (const schema of ['user_1', 'user_10', 'user_11', 'user_12']) {
      expect((await createConnection(schema)).status).toBe(201);
    }
    const exact = await call(
      'GET',
      `/v1/connections?group_id=${GROUP_ID}&schema=user_1`,
    );
    expect(exact.json.data?.items?.map((c) => c.schema)).toEqual(['user_1']);
    expect(exact.json.data).not.toHaveProperty('next_cursor');

    const schemas: unknown[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page = await call('GET', `/v1/connections?limit=3${query}`);
      schemas.push(...(page.json.data?.items ?? []).map((c) => c.schema));
      cursor = page.json.data?.next_cursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(2);
    expect(schemas).toEqual(['user_1', 'user_10', 'user_11', 'user_12']);
  });

  it('issues a fresh Connect Card token for an existing connection', async () => {
    const created = await createConnection();
    const id = created.json.data?.id as string;
    const { status, json } = await call(
      'POST',
      `/v1/connections/${id}/connect-card`,
      { json: { connect_card_config: { redirect_uri: 'https://x.test/r' } } },
    );
    expect(status).toBe(200);
    const card = json.data?.connect_card as { token: string; uri: string };
    expect(json.data?.connector_id).toBe(id);
    expect(card.token).not.toBe(
      (created.json.data?.connect_card as { token: string }).token,
    );
    expect(card.uri).toContain(`&auth=${card.token}`);
  });
});

describe('faults and rate limits', () => {
  it('sends an injected 429 with an integer Retry-After', async () => {
    sim.inject({
      route: 'create-connection',
      kind: 'status',
      status: 429,
      retryAfterSeconds: 7,
    });
    const limited = await createConnection();
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    expect(limited.json.code).toBe('TooManyRequests');
    expect(sim.connections.size).toBe(0);
    expect((await createConnection('next_one')).status).toBe(201);
  });

  it('enforces a rolling create window and does not count rejections', async () => {
    sim.setRateLimits({ create: { max: 2, windowMs: 1_500 } });
    expect((await createConnection('a_1')).status).toBe(201);
    expect((await createConnection('a_2')).status).toBe(201);
    const third = await createConnection('a_3');
    expect(third.status).toBe(429);
    expect(third.json.message).toMatch(/No more than 2 connectors/);
    expect(third.headers['retry-after']).toBe('2');
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    expect((await createConnection('a_3')).status).toBe(201);
    const counted = sim.requests.filter(
      (r) => r.route === 'create-connection' && r.status !== 429,
    );
    expect(counted).toHaveLength(3);
  });

  it('admits exactly max concurrent creates and rejects the rest', async () => {
    const packageIds = await Promise.all(
      [1, 2, 3, 4, 5].map(() => uploadPackage()),
    );
    sim.setRateLimits({ create: { max: 2, windowMs: 60_000 } });
    const statuses = await Promise.all(
      packageIds.map((id, i) =>
        call('POST', '/v1/connections', {
          json: connectionBody(id, `burst_${i}`),
        }).then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(2);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    expect(sim.connections.size).toBe(2);
  });

  it('reports X-Rate-Limit headers when an overall limit is set', async () => {
    sim.setRateLimits({ all: { max: 2, windowMs: 60_000 } });
    const first = await call('GET', '/v1/connections');
    expect(first.headers['x-rate-limit']).toBe('2');
    expect(first.headers['x-rate-limit-remaining']).toBe('1');
    await call('GET', '/v1/connections');
    const third = await call('GET', '/v1/connections');
    expect(third.status).toBe(429);
    expect(third.json.message).toMatch(/Max 2 api calls allowed in one-minute/);
    expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(59);
  });

  it('creates the connection on reset-after while the client sees a socket error', async () => {
    const packageId = await uploadPackage();
    sim.inject({ route: 'create-connection', kind: 'reset', when: 'after' });
    await expect(
      call('POST', '/v1/connections', { json: connectionBody(packageId) }),
    ).rejects.toThrow();
    expect(sim.connections.size).toBe(1);
    const last = sim.requests.at(-1);
    expect(last).toMatchObject({ status: 0, acted: true });
  });

  it('does nothing on reset-before', async () => {
    sim.inject({ route: 'upload-package', kind: 'reset', when: 'before' });
    await expect(uploadPackage()).rejects.toThrow();
    expect(sim.packages.size).toBe(0);
    expect(sim.requests.at(-1)).toMatchObject({ status: 0, acted: false });
  });

  it('delays responses by the configured latency', async () => {
    sim.setLatency(150);
    const startedMs = Date.now();
    await call('GET', '/v1/connections');
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(140);
  });
});
