import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import type { Logger } from '../logger.ts';
import type { OnboardingRecord } from '../onboarding/store.ts';
import { registerBoard } from './board.ts';
import {
  enqueueSignup,
  IntakeUnavailableError,
  type SignupIntakeDeps,
} from './enqueue-signup.ts';
import { safeEqual } from './safe-equal.ts';
import { parseSignupEvent } from './signup-event.ts';

export interface HttpServerOptions {
  intake: SignupIntakeDeps;
  /** Whether the intake's Redis answers now; /healthz reports it. */
  redisReady: () => boolean;
  boardQueues: Queue[];
  intakeToken: string;
  board: { user: string; password: string };
  log: Logger;
}

const ONBOARDING_ID_PATTERN = /^onb_[0-9a-f]{24}$/;

export async function buildHttpServer(
  options: HttpServerOptions,
): Promise<FastifyInstance> {
  const app = Fastify({
    // Fastify's logger type is narrower than pino's; the instance is pino.
    loggerInstance: options.log as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
  });
  app.setErrorHandler(replyWithError);
  // Only JSON is a signup; Fastify would otherwise hand a text/plain body to
  // validation as a bare string.
  app.removeContentTypeParser('text/plain');
  await registerBoard(app, options.boardQueues, options.board);
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request, reply) => {
      const header = request.headers.authorization ?? '';
      // The scheme name is case-insensitive (RFC 9110); the token is not.
      const match = /^bearer +(\S+)\s*$/i.exec(header);
      const token = match?.[1] ?? '';
      if (!token || !safeEqual(token, options.intakeToken)) {
        await reply.code(401).header('www-authenticate', 'Bearer').send({
          error: 'unauthorized',
          message: 'Send Authorization: Bearer <INTAKE_TOKEN>',
        });
      }
    });
    scope.post('/signups', async (request, reply) => {
      const parsed = parseSignupEvent(request.body);
      if (!parsed.ok) {
        return reply.code(400).send({
          error: 'invalid_body',
          message: parsed.problems
            .map((problem) => `${problem.field} ${problem.message}`)
            .join('; '),
          fields: parsed.problems,
        });
      }
      const result = await enqueueSignup(options.intake, parsed.event);
      request.log.info(
        { onboardingId: result.onboardingId, created: result.created },
        'signup accepted',
      );
      return reply.code(202).send({
        onboarding_id: result.onboardingId,
        duplicate: !result.created,
      });
    });
    scope.get<{ Params: { onboardingId: string } }>(
      '/signups/:onboardingId',
      async (request, reply) => {
        const { onboardingId } = request.params;
        let record;
        try {
          record = ONBOARDING_ID_PATTERN.test(onboardingId)
            ? await options.intake.store.get(onboardingId)
            : undefined;
        } catch (error) {
          throw new IntakeUnavailableError(error);
        }
        if (!record) {
          return reply.code(404).send({
            error: 'not_found',
            message: `No onboarding ${onboardingId}`,
          });
        }
        return reply.send(publicView(record));
      },
    );
  });
  // For load balancers: an instance whose Redis is gone cannot take
  // signups, so it should not be sent any.
  app.get('/healthz', async (_request, reply) => {
    const ready = options.redisReady();
    return reply
      .code(ready ? 200 : 503)
      .send({ ok: ready, redis: ready ? 'ready' : 'unreachable' });
  });
  return app;
}

/** The record as the partner may see it: no Connect Card link or token. */
export function publicView(record: OnboardingRecord) {
  return {
    onboarding_id: record.onboardingId,
    state: record.state,
    user: { id: record.userId, email: record.email, name: record.name },
    event_id: record.eventId,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
    package: record.packageId
      ? { id: record.packageId, uploaded_at: record.packageUploadedAt }
      : undefined,
    deleted_package: record.deletedPackageId
      ? { id: record.deletedPackageId, deleted_at: record.packageDeletedAt }
      : undefined,
    connection: record.connectionId
      ? { id: record.connectionId, created_at: record.connectionCreatedAt }
      : undefined,
    email: record.emailSentAt
      ? { message_id: record.emailMessageId, sent_at: record.emailSentAt }
      : undefined,
    // The failure while failed; after a successful retry, the last error.
    [record.state === 'failed' ? 'failure' : 'last_error']: record.failedAt
      ? {
          step: record.failedStep,
          code: record.failureCode,
          reason: record.failureReason,
          failed_at: record.failedAt,
        }
      : undefined,
  };
}

const FASTIFY_ERRORS: Record<number, string> = {
  400: 'invalid_body',
  413: 'body_too_large',
  415: 'unsupported_media_type',
};

function replyWithError(
  error: FastifyError,
  request: Parameters<Parameters<FastifyInstance['setErrorHandler']>[0]>[1],
  reply: Parameters<Parameters<FastifyInstance['setErrorHandler']>[0]>[2],
) {
  if (error instanceof IntakeUnavailableError) {
    request.log.error(
      { err: error.cause, code: error.code },
      'intake unavailable',
    );
    const stored =
      request.method === 'POST' ? 'The signup was not stored; ' : '';
    return reply
      .code(503)
      .header('retry-after', '5')
      .send({
        error: 'unavailable',
        message: `${stored}Redis is unreachable; retry shortly`,
      });
  }
  const status = error.statusCode ?? 500;
  if (status >= 500) {
    request.log.error({ err: error }, 'request failed');
    return reply
      .code(500)
      .send({ error: 'internal', message: 'Internal error' });
  }
  // Fastify's own 4xx: malformed JSON, wrong content type, body too large.
  return reply.code(status).send({
    error: FASTIFY_ERRORS[status] ?? 'bad_request',
    message: error.message,
  });
}
