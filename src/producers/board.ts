import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import basicAuth from '@fastify/basic-auth';
import type { FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import { safeEqual } from './safe-equal.ts';

export const BOARD_PATH = '/admin/queues';

/**
 * Mounts Bull Board behind HTTP Basic auth. The board is not read-only:
 * operators retry failed jobs from it, which is why it needs a password.
 */
export async function registerBoard(
  app: FastifyInstance,
  queues: Queue[],
  credentials: { user: string; password: string },
): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'connect-card-worker' } },
  });
  await app.register(async (scope) => {
    await scope.register(basicAuth, {
      authenticate: { realm: 'connect-card-worker' },
      async validate(user, password) {
        const userOk = safeEqual(user, credentials.user);
        const passwordOk = safeEqual(password, credentials.password);
        if (!userOk || !passwordOk) throw new Error('Unauthorized');
      },
    });
    scope.addHook('onRequest', scope.basicAuth);
    await scope.register(serverAdapter.registerPlugin(), {
      prefix: BOARD_PATH,
    });
  });
}
