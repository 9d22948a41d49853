import { createServer, type Server } from 'node:http';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { createSignupProducer } from '../../src/producers/signup-producer.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { startService } from '../../src/service.ts';
import {
  BOARD_PASSWORD,
  BOARD_USER,
  INTAKE_TOKEN,
  signup,
  startTestService,
  testEnv,
} from '../support/service.ts';

describe('HTTP server lifecycle', () => {
  let sandbox: Sandbox | undefined;
  let blocker: Server | undefined;

  afterEach(async () => {
    await sandbox?.close();
    await new Promise((resolve) => blocker?.close(resolve) ?? resolve(null));
  });

  it('stops promptly while keep-alive requests are in flight', async () => {
    sandbox = await startSandbox();
    const service = await startTestService(testEnv(sandbox.env), 'http');
    const agent = new Agent({ keepAliveTimeout: 120_000, connections: 10 });
    const post = (n: number) =>
      request(`${service.url}/signups`, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${INTAKE_TOKEN}`,
        },
        body: JSON.stringify(signup(n)),
      })
        .then((response) => response.body.dump())
        .catch(() => undefined);
    // Open the keep-alive connections first, so the next batch is on the
    // server the moment it is sent, and busy when stop begins.
    await Promise.all(Array.from({ length: 10 }, (_, n) => post(n)));
    // Bull Board's queue listing takes a while to answer: busy for sure.
    const inFlight = Array.from({ length: 10 }, () =>
      request(`${service.url}/admin/queues/api/queues`, {
        dispatcher: agent,
        headers: {
          authorization: `Basic ${Buffer.from(`${BOARD_USER}:${BOARD_PASSWORD}`).toString('base64')}`,
        },
      })
        .then((response) => response.body.dump())
        .catch(() => undefined),
    );
    await new Promise((resolve) => setTimeout(resolve, 2));

    const startedAt = Date.now();
    await service.stop();
    await Promise.all(inFlight);
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    await agent.destroy();
  }, 30_000);

  it('leaves no worker running when the port is taken', async () => {
    sandbox = await startSandbox();
    blocker = createServer();
    await new Promise<void>((resolve) =>
      blocker!.listen(0, '127.0.0.1', resolve),
    );
    const port = (blocker.address() as { port: number }).port;
    const env = testEnv(sandbox.env, { PORT: String(port) });
    const config = loadConfig(env);
    process.env.STORAGE_EMULATOR_HOST = env.STORAGE_EMULATOR_HOST;

    await expect(
      startService(config, createLogger('silent'), 'all'),
    ).rejects.toThrow(/EADDRINUSE|address already in use/);

    const producer = createSignupProducer({
      redisUrl: config.redisUrl,
      queuePrefix: config.queuePrefix,
    });
    await producer.enqueueSignup(signup(1));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const uploads = sandbox.fivetran.requests.filter(
      (request) => request.route === 'upload-package',
    );
    expect(uploads).toEqual([]);
    await producer.close();
  });
});
