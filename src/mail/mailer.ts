import nodemailer from 'nodemailer';
import { ErrorCode, ServiceError } from '../errors.ts';
import type { RenderedMessage } from './connect-card-message.ts';

export interface OutgoingMail extends RenderedMessage {
  to: string;
  /** Stable per onboarding, so a receiving system can spot a resend. */
  messageId: string;
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<{ messageId: string; response: string }>;
  close(): void;
}

export function createMailer(smtpUrl: string, from: string): Mailer {
  // Bounded, so a send always ends well inside the email claim (EMAIL_CLAIM_MS)
  // that keeps a second run from sending the same message meanwhile.
  const transport = nodemailer.createTransport({
    url: smtpUrl,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return {
    async send(mail) {
      try {
        const info = await transport.sendMail({
          from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          messageId: mail.messageId,
        });
        return { messageId: info.messageId, response: info.response };
      } catch (error) {
        throw smtpError(error);
      }
    },
    close() {
      transport.close();
    },
  };
}

// A 5xx reply (or bad credentials) will not change on retry; a 4xx reply or a
// network failure usually will.
function smtpError(error: unknown): ServiceError {
  const { responseCode, code } = error as {
    responseCode?: number;
    code?: string;
  };
  const permanent =
    code === 'EAUTH' ||
    (responseCode === undefined ? code === 'EENVELOPE' : responseCode >= 500);
  return new ServiceError(
    permanent ? ErrorCode.MailRejected : ErrorCode.MailUnavailable,
    `Sending the Connect Card email failed: ${(error as Error).message}`,
    responseCode === undefined ? {} : { httpStatus: responseCode },
    { cause: error },
  );
}
