import nodemailer from 'nodemailer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startSmtpInbox,
  type SmtpInbox,
} from '../../src/sandbox/smtp-inbox.ts';

let inbox: SmtpInbox;

beforeEach(async () => {
  inbox = await startSmtpInbox({ user: 'mailer', password: 's3cret' });
});

afterEach(async () => {
  await inbox.close();
});

function message(to = 'user@example.com') {
  return {
    from: 'Onboarding <onboarding@sandbox.test>',
    to,
    subject: 'Connect your data',
    text: 'Open https://fivetran.com/connect-card/setup',
    html: '<p>Open <a href="https://fivetran.com">the card</a></p>',
  };
}

describe('SMTP inbox with nodemailer', () => {
  it('captures an authenticated message with text and html', async () => {
    const transport = nodemailer.createTransport(inbox.url);
    const info = await transport.sendMail(message());
    const [mail] = await inbox.waitForMessages(1, 2_000);
    expect(mail).toMatchObject({
      envelopeFrom: 'onboarding@sandbox.test',
      envelopeTo: ['user@example.com'],
      messageId: info.messageId,
      subject: 'Connect your data',
      text: 'Open https://fivetran.com/connect-card/setup',
      html: '<p>Open <a href="https://fivetran.com">the card</a></p>',
    });
    expect(mail?.to).toContain('user@example.com');
    transport.close();
  });

  it('rejects a wrong password', async () => {
    const url = new URL(inbox.url);
    url.password = 'wrong';
    const transport = nodemailer.createTransport(url.toString());
    await expect(transport.sendMail(message())).rejects.toMatchObject({
      code: 'EAUTH',
      responseCode: 535,
    });
    expect(inbox.messages).toHaveLength(0);
  });

  it('rejects the next DATA with the requested code, then accepts', async () => {
    inbox.rejectNext(1, 451);
    const transport = nodemailer.createTransport(inbox.url);
    await expect(transport.sendMail(message())).rejects.toMatchObject({
      responseCode: 451,
    });
    await transport.sendMail(message('second@example.com'));
    expect(inbox.messages.map((m) => m.envelopeTo)).toEqual([
      ['second@example.com'],
    ]);
  });

  it('stores the message but drops the confirmation', async () => {
    inbox.dropConfirmationOfNext(1);
    const transport = nodemailer.createTransport(inbox.url);
    await expect(transport.sendMail(message())).rejects.toThrow();
    expect(inbox.messages).toHaveLength(1);
  });

  it('times out waiting for messages that never come', async () => {
    await expect(inbox.waitForMessages(1, 50)).rejects.toThrow(/within 50 ms/);
  });
});
