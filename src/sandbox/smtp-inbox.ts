import type { AddressInfo, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { simpleParser, type AddressObject } from 'mailparser';
import {
  SMTPServer,
  type SMTPServerAuthentication,
  type SMTPServerAuthenticationResponse,
  type SMTPServerSession,
} from 'smtp-server';
import { hostPort } from './gcs-fake.ts';

export interface ReceivedMail {
  envelopeFrom: string;
  envelopeTo: string[];
  messageId: string | undefined;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  receivedAt: number;
  /** The message exactly as it arrived after DATA. */
  raw: Buffer;
}

export interface SmtpInbox {
  url: string;
  messages: ReceivedMail[];
  waitForMessages(count: number, timeoutMs: number): Promise<ReceivedMail[]>;
  rejectNext(count: number, responseCode: number): void;
  dropConfirmationOfNext(count: number): void;
  close(): Promise<void>;
}

interface Waiter {
  count: number;
  resolve: (messages: ReceivedMail[]) => void;
}

type SmtpError = Error & { responseCode?: number };

function addressText(
  address: AddressObject | AddressObject[] | undefined,
): string {
  if (!address) return '';
  const list = Array.isArray(address) ? address : [address];
  return list.map((entry) => entry.text).join(', ');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function toReceivedMail(
  raw: Buffer,
  session: SMTPServerSession,
): Promise<ReceivedMail> {
  const parsed = await simpleParser(raw);
  const mailFrom = session.envelope.mailFrom;
  return {
    envelopeFrom: mailFrom ? mailFrom.address : '',
    envelopeTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
    messageId: parsed.messageId,
    from: addressText(parsed.from),
    to: addressText(parsed.to),
    subject: parsed.subject ?? '',
    text: parsed.text ?? '',
    html: typeof parsed.html === 'string' ? parsed.html : '',
    receivedAt: Date.now(),
    raw,
  };
}

function rejection(responseCode: number): SmtpError {
  const transient = responseCode >= 400 && responseCode < 500;
  const error: SmtpError = new Error(
    transient
      ? 'Requested action aborted: local error in processing, try again later'
      : 'Requested action not taken: message rejected',
  );
  error.responseCode = responseCode;
  return error;
}

export function startSmtpInbox(
  opts: { host?: string; port?: number; user?: string; password?: string } = {},
): Promise<SmtpInbox> {
  const user = opts.user ?? 'sandbox';
  const password = opts.password ?? 'sandbox-password';
  const messages: ReceivedMail[] = [];
  const waiters = new Set<Waiter>();
  // Raw sockets keyed by the client's address:port so a session can be cut off.
  const sockets = new Map<string, Socket>();
  const pendingRejections: number[] = [];
  let dropsLeft = 0;

  function notifyWaiters() {
    for (const waiter of waiters) {
      if (messages.length >= waiter.count) {
        waiters.delete(waiter);
        waiter.resolve(messages.slice(0, waiter.count));
      }
    }
  }

  function socketOf(session: SMTPServerSession): Socket | undefined {
    return sockets.get(`${session.remoteAddress}:${session.remotePort}`);
  }

  function onAuth(
    auth: SMTPServerAuthentication,
    _session: SMTPServerSession,
    callback: (
      err: Error | null | undefined,
      response?: SMTPServerAuthenticationResponse,
    ) => void,
  ) {
    if (auth.username === user && auth.password === password) {
      callback(null, { user });
      return;
    }
    const error: SmtpError = new Error('Invalid username or password');
    error.responseCode = 535;
    callback(error);
  }

  function onData(
    stream: Readable,
    session: SMTPServerSession,
    callback: (err?: Error | null) => void,
  ) {
    readAll(stream)
      .then(async (raw) => {
        const rejectCode = pendingRejections.shift();
        if (rejectCode !== undefined) {
          callback(rejection(rejectCode));
          return;
        }
        messages.push(await toReceivedMail(raw, session));
        notifyWaiters();
        if (dropsLeft > 0) {
          dropsLeft -= 1;
          // The message is stored but the 250 never reaches the client.
          socketOf(session)?.destroy();
          return;
        }
        callback();
      })
      .catch((error: unknown) => {
        callback(error instanceof Error ? error : new Error(String(error)));
      });
  }

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    // Loopback only: plain-text AUTH is acceptable without TLS here.
    allowInsecureAuth: true,
    authOptional: false,
    logger: false,
    closeTimeout: 100,
    onAuth,
    onData,
  });
  server.server.on('connection', (socket: Socket) => {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    sockets.set(key, socket);
    socket.once('close', () => sockets.delete(key));
  });

  function waitForMessages(
    count: number,
    timeoutMs: number,
  ): Promise<ReceivedMail[]> {
    if (messages.length >= count) {
      return Promise.resolve(messages.slice(0, count));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(
          new Error(
            `Expected ${count} messages within ${timeoutMs} ms, got ${messages.length}`,
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        count,
        resolve: (received) => {
          clearTimeout(timer);
          resolve(received);
        },
      };
      waiters.add(waiter);
    });
  }

  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      const address = server.server.address() as AddressInfo;
      const credentials = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
      resolve({
        url: `smtp://${credentials}@${hostPort(address)}`,
        messages,
        waitForMessages,
        rejectNext(count, responseCode) {
          for (let i = 0; i < count; i += 1)
            pendingRejections.push(responseCode);
        },
        dropConfirmationOfNext(count) {
          dropsLeft = count;
        },
        close() {
          return new Promise<void>((done) => {
            server.close(() => done());
            for (const socket of sockets.values()) socket.destroy();
          });
        },
      });
    });
  });
}
