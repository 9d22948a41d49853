import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { readJob, submitSignup, waitForState } from '../support/queues.ts';
import { countedRequests, maxInAnyWindow } from '../support/request-log.ts';
import {
  signup,
  startTestService,
  testEnv,
  type TestService,
} from '../support/service.ts';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.ts';

describe('Fivetran rate limits', () => {
  let sandbox: Sandbox | undefined;
  let service: TestService | undefined;
  const workers: WorkerProcess[] = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.kill()));
    await service?.stop();
    await sandbox?.close();
  });

  it('honours Retry-After for every job, without spending an attempt', async () => {
    sandbox = await startSandbox();
    service = await startTestService(testEnv(sandbox.env));
    sandbox.fivetran.inject({
      route: 'create-connection',
      kind: 'status',
      status: 429,
      retryAfterSeconds: 2,
    });
    const first = await submitSignup(service, signup(1));
    const limited = await waitForRequest(sandbox, 429);
    const second = await submitSignup(service, signup(2));

    await waitForState(service, first, 'email_sent');
    await waitForState(service, second, 'email_sent');
    const after = sandbox.fivetran.requests.filter(
      (request) => request.receivedAt > limited.receivedAt,
    );
    expect(after.length).toBeGreaterThan(0);
    for (const request of after) {
      expect(request.receivedAt - limited.receivedAt).toBeGreaterThanOrEqual(
        2000,
      );
    }
    const job = await readJob(service, 'create-connection', first);
    expect(job?.state).toBe('completed');
    // One attempt: the one that succeeded. The 429 cost none.
    expect(job?.attemptsMade).toBe(1);
    expect(sandbox.fivetran.connections.size).toBe(2);
  });

  it('fails as "rate limited" once the total wait passes its bound', async () => {
    sandbox = await startSandbox();
    service = await startTestService(
      testEnv(sandbox.env, { FIVETRAN_MAX_RATE_LIMIT_WAIT_MS: '1500' }),
    );
    sandbox.fivetran.inject({
      route: 'upload-package',
      kind: 'status',
      status: 429,
      retryAfterSeconds: 1,
      times: 3,
    });
    const id = await submitSignup(service, signup(3));

    const record = await waitForState(service, id, 'failed');
    expect(record?.failureCode).toBe('RATE_LIMIT_WAIT_EXCEEDED');
    const job = await readJob(service, 'upload-package', id);
    expect(job?.failedReason).toMatch(/^rate limited/);
  });

  it('keeps creations within the creation limit in every rolling window', async () => {
    const createLimit = { max: 3, windowMs: 2000 };
    sandbox = await startSandbox({ rateLimits: { create: createLimit } });
    service = await startTestService(
      testEnv(sandbox.env, { FIVETRAN_CREATE_RATE_LIMIT: '3/2s' }),
    );
    const ids = await Promise.all(
      Array.from({ length: 8 }, (_, n) => submitSignup(service!, signup(n))),
    );
    for (const id of ids) await waitForState(service, id, 'email_sent');

    const creates = sandbox.fivetran.requests.filter(
      (request) => request.route === 'create-connection',
    );
    expect(creates.filter((request) => request.status === 429)).toEqual([]);
    expect(maxInAnyWindow(creates, createLimit.windowMs)).toBeLessThanOrEqual(
      createLimit.max,
    );
    expect(sandbox.fivetran.connections.size).toBe(8);
  });

  it('shares one budget between two worker processes', async () => {
    const limit = { max: 8, windowMs: 2000 };
    sandbox = await startSandbox({ rateLimits: { all: limit } });
    const env = testEnv(sandbox.env, {
      FIVETRAN_RATE_LIMIT: '8/2s',
      FIVETRAN_CREATE_RATE_LIMIT: '8/2s',
      WORKER_CONCURRENCY: '4',
    });
    service = await startTestService(env, 'http');
    workers.push(await spawnWorker(env), await spawnWorker(env));
    const ids = await Promise.all(
      Array.from({ length: 10 }, (_, n) => submitSignup(service!, signup(n))),
    );
    for (const id of ids) await waitForState(service, id, 'email_sent', 40_000);

    const requests = sandbox.fivetran.requests;
    expect(requests.filter((request) => request.status === 429)).toEqual([]);
    expect(
      maxInAnyWindow(countedRequests(requests), limit.windowMs),
    ).toBeLessThanOrEqual(limit.max);
    const processedBy = new Set<string>();
    for (const id of ids) {
      const job = await readJob(service, 'upload-package', id);
      processedBy.add(String(job?.processedBy));
    }
    expect(processedBy.size).toBe(2);
  }, 60_000);
});

async function waitForRequest(sandbox: Sandbox, status: number) {
  for (;;) {
    const found = sandbox.fivetran.requests.find(
      (request) => request.status === status,
    );
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
