import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { readJob, submitSignup, waitForState } from './support/queues.ts';
import {
  signup,
  startTestService,
  testEnv,
  UNREACHED_SERVICES_ENV,
  type TestService,
} from './support/service.ts';
import { waitFor } from './support/wait-for.ts';
import { useSandboxService } from './support/fixtures.ts';
import { spawnWorker, type WorkerProcess } from './support/worker-process.ts';

describe('graceful shutdown', () => {
  let sandbox: Sandbox;
  let intake: TestService;
  let env: Record<string, string>;
  const workers: WorkerProcess[] = [];

  beforeEach(async () => {
    sandbox = await startSandbox();
    env = testEnv(sandbox.env, { SHUTDOWN_TIMEOUT_MS: '10000' });
    intake = await startTestService(env, 'http');
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.kill()));
    await intake.stop();
    await sandbox.close();
  });

  /** A worker whose one signup's upload is slowed down and under way. */
  async function workerMidUpload(
    latencyMs: number,
    overrides: Record<string, string> = {},
  ) {
    sandbox.fivetran.inject({
      route: 'upload-package',
      kind: 'latency',
      ms: latencyMs,
    });
    const worker = await spawnWorker({ ...env, ...overrides });
    workers.push(worker);
    const id = await submitSignup(intake, signup(workers.length));
    await uploadInFlight();
    return { worker, id };
  }

  async function uploadInFlight() {
    await waitFor(
      async () =>
        sandbox.fivetran.requests.some(
          (request) => request.route === 'upload-package',
        ),
      Boolean,
    );
  }

  it('lets the active job finish on SIGTERM, then exits 0', async () => {
    const { worker, id } = await workerMidUpload(1500);

    const exitCode = await worker.kill('SIGTERM');
    expect(exitCode).toBe(0);
    const record = await intake.store.get(id);
    expect(record?.state).toBe('package_uploaded');
    expect((await readJob(intake, 'upload-package', id))?.state).toBe(
      'completed',
    );

    workers.push(await spawnWorker(env));
    await waitForState(intake, id, 'email_sent');
    expect(sandbox.smtp.messages).toHaveLength(1);
  });

  it('hands the job back, with no attempt spent, when the deadline passes', async () => {
    const { worker, id } = await workerMidUpload(4000, {
      SHUTDOWN_TIMEOUT_MS: '300',
    });

    const startedAt = Date.now();
    expect(await worker.kill('SIGTERM')).toBe(0);
    expect(Date.now() - startedAt).toBeLessThan(3500);
    const job = await readJob(intake, 'upload-package', id);
    expect(job?.state).toBe('waiting');
    expect(job?.attemptsMade).toBe(0);

    workers.push(await spawnWorker(env));
    await waitForState(intake, id, 'email_sent');
    expect(sandbox.fivetran.connections.size).toBe(1);
    expect(sandbox.smtp.messages).toHaveLength(1);
  });

  it('exits at once on a second signal', async () => {
    const { worker } = await workerMidUpload(5000);

    worker.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const startedAt = Date.now();
    expect(await worker.kill('SIGINT')).toBe(1);
    expect(Date.now() - startedAt).toBeLessThan(1000);
  });
});

describe('shutdown while Redis is unreachable', () => {
  it('still exits, and logs the outage without flooding stderr', async () => {
    const env = testEnv(UNREACHED_SERVICES_ENV, {
      REDIS_URL: 'redis://127.0.0.1:9',
      SHUTDOWN_TIMEOUT_MS: '200',
    });
    const worker = await spawnWorker(env, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 2000));

    const startedAt = Date.now();
    const exitCode = await worker.kill('SIGTERM');
    expect(exitCode).toBe(1);
    expect(Date.now() - startedAt).toBeLessThan(15_000);
    const lines = worker.output().trim().split('\n');
    expect(lines.every((line) => line.startsWith('{'))).toBe(true);
    expect(lines.length).toBeLessThan(40);
    expect(worker.output()).toContain('shutdown did not finish');
  }, 45_000);
});

describe('a job whose workers keep dying', () => {
  const ctx = useSandboxService({
    role: 'http',
    env: {
      LOCK_DURATION_MS: '1000',
      STALLED_INTERVAL_MS: '300',
      MAX_STALLED_COUNT: '1',
    },
  });
  const workers: WorkerProcess[] = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.kill()));
  });

  it('fails the onboarding as JOB_STALLED once it stalled too often', async () => {
    ctx.sandbox.fivetran.setLatency(60_000);
    const env = testEnv(ctx.sandbox.env, {
      QUEUE_PREFIX: ctx.service.config.queuePrefix,
      LOCK_DURATION_MS: '1000',
      STALLED_INTERVAL_MS: '300',
      MAX_STALLED_COUNT: '1',
    });
    const id = await submitSignup(ctx.service, signup(4));
    for (let run = 1; run <= 2; run++) {
      const worker = await spawnWorker(env);
      await waitFor(
        () => readJob(ctx.service, 'upload-package', id),
        (job) =>
          job?.state === 'active' &&
          String(job.processedBy).endsWith(`:${worker.pid}`),
      );
      await worker.kill('SIGKILL');
    }
    workers.push(await spawnWorker(env));

    const record = await waitForState(ctx.service, id, 'failed').catch(
      async (error: Error) => {
        const job = await readJob(ctx.service, 'upload-package', id);
        throw new Error(
          `${error.message}\njob: ${JSON.stringify(job)}\n${workers[0]?.output()}`,
        );
      },
    );
    expect(record?.failureCode).toBe('JOB_STALLED');
    expect(record?.failedStep).toBe('upload-package');
  }, 60_000);
});
