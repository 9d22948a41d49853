import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { submitSignup, waitForState } from './support/queues.ts';
import {
  INTAKE_TOKEN,
  signup,
  startTestService,
  testEnv,
  type TestService,
} from './support/service.ts';
import { spawnWorker, type WorkerProcess } from './support/worker-process.ts';

interface LogLine {
  level: number;
  msg: string;
  queue?: string;
  jobId?: string;
  attempt?: number;
  code?: string;
}

const WARN = 40;
const ERROR = 50;

describe('worker logs', () => {
  let sandbox: Sandbox;
  let intake: TestService;
  let worker: WorkerProcess;

  beforeEach(async () => {
    sandbox = await startSandbox();
    const env = testEnv(sandbox.env);
    intake = await startTestService(env, 'http');
    worker = await spawnWorker(env);
  });

  afterEach(async () => {
    await worker.kill();
    await intake.stop();
    await sandbox.close();
  });

  it('name queue, job and attempt; warn on a retry, error on a final failure', async () => {
    sandbox.fivetran.inject({
      route: 'upload-package',
      kind: 'status',
      status: 503,
    });
    const retried = await submitSignup(intake, signup(1));
    await waitForState(intake, retried, 'email_sent');
    sandbox.smtp.rejectNext(1, 550);
    const failed = await submitSignup(intake, signup(2));
    await waitForState(intake, failed, 'failed');
    await new Promise((resolve) => setTimeout(resolve, 200));

    const lines = parseLines(worker.output());
    const retry = lines.find((line) => line.msg === 'step failed, will retry');
    expect(retry).toMatchObject({
      level: WARN,
      queue: 'upload-package',
      jobId: `upload-package-${retried}`,
      attempt: 1,
      code: 'FIVETRAN_UNAVAILABLE',
    });
    const final = lines.find((line) => line.msg === 'step failed for good');
    expect(final).toMatchObject({
      level: ERROR,
      queue: 'email-connect-card',
      jobId: `email-connect-card-${failed}`,
      code: 'MAIL_REJECTED',
    });
  });

  it('never contain a secret or a Connect Card token', async () => {
    const id = await submitSignup(intake, signup(3));
    await waitForState(intake, id, 'email_sent');
    await new Promise((resolve) => setTimeout(resolve, 200));

    const output = worker.output();
    const [connection] = [...sandbox.fivetran.connections.values()];
    expect(output).toContain('email sent');
    expect(output).not.toContain(connection!.connect_card_token);
    expect(output).not.toContain('connect-card/setup');
    expect(output).not.toContain(sandbox.env.FIVETRAN_API_SECRET);
    expect(output).not.toContain(INTAKE_TOKEN);
    expect(output).not.toContain(new URL(sandbox.env.SMTP_URL!).password);
  });
});

function parseLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}
