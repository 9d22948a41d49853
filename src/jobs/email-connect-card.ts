import { randomUUID } from 'node:crypto';
import { ErrorCode, ServiceError } from '../errors.ts';
import { renderConnectCardMessage } from '../mail/connect-card-message.ts';
import { redirectUriFor } from './create-connection.ts';
import { requireRecord, type StepDeps, type StepRun } from './step-deps.ts';

// Fivetran's Connect Card links expire after one day; a link older than this
// is renewed before it is mailed, so the user never gets a dead one.
const CONNECT_CARD_FRESH_MS = 23 * 3600 * 1000;

export interface EmailConnectCardResult {
  messageId: string;
  alreadySent: boolean;
}

/**
 * Mails the user the Connect Card link exactly as Fivetran returned it. A
 * message the SMTP server confirmed is recorded at once and never sent
 * again; only a send whose confirmation was lost can repeat.
 */
export async function emailConnectCard(
  deps: StepDeps,
  run: StepRun,
  now: () => number = Date.now,
): Promise<EmailConnectCardResult> {
  const record = await requireRecord(deps, run.onboardingId);
  if (record.emailMessageId) {
    run.log.info('email already sent');
    return { messageId: record.emailMessageId, alreadySent: true };
  }
  if (!record.connectionId || !record.connectCardUri) {
    throw new ServiceError(
      ErrorCode.StepOutOfOrder,
      `Onboarding ${run.onboardingId} has no connection yet`,
    );
  }
  let connectCardUri = record.connectCardUri;
  const issuedAtMs = Date.parse(record.connectCardCreatedAt ?? '');
  if (!(now() - issuedAtMs < CONNECT_CARD_FRESH_MS)) {
    const card = await deps.fivetran.createConnectCard(
      record.connectionId,
      redirectUriFor(deps.settings.redirectUri, run.onboardingId),
      run.signal,
    );
    connectCardUri = card.connect_card.uri;
    await deps.store.recordConnectCard(run.onboardingId, connectCardUri);
    run.log.info('connect card renewed');
  }
  const message = renderConnectCardMessage({
    onboardingId: run.onboardingId,
    to: record.email,
    name: record.name,
    connectCardUri,
  });
  const messageId = `<${run.onboardingId}@${mailDomain(deps.settings.mailFrom)}>`;
  const owner = randomUUID();
  const claimWaitMs = await deps.store.claimEmailSend(
    run.onboardingId,
    owner,
    deps.settings.emailClaimMs,
  );
  if (claimWaitMs > 0) {
    throw new ServiceError(
      ErrorCode.EmailSendInProgress,
      `Another run is sending the email of ${run.onboardingId}`,
      { waitMs: claimWaitMs },
    );
  }
  // Read again under the claim: a run that held it before us may have sent.
  const current = await requireRecord(deps, run.onboardingId);
  if (current.emailMessageId) {
    await deps.store.releaseEmailSend(run.onboardingId, owner);
    return { messageId: current.emailMessageId, alreadySent: true };
  }
  try {
    await deps.mailer.send({ ...message, to: record.email, messageId });
  } catch (error) {
    // Refused or broken off: our run is over, so a retry may claim at once.
    await deps.store.releaseEmailSend(run.onboardingId, owner);
    throw error;
  }
  // Recorded straight after the server's 250: a crash between the two is the
  // only way this message can go out twice, and then only once the claim
  // has lapsed.
  await deps.store.recordEmailSent(run.onboardingId, messageId);
  await deps.store.releaseEmailSend(run.onboardingId, owner);
  run.log.info({ messageId }, 'email sent');
  return { messageId, alreadySent: false };
}

function mailDomain(from: string): string {
  const match = /@([^>\s]+)>?\s*$/.exec(from);
  return match?.[1] ?? 'connect-card-worker.invalid';
}
