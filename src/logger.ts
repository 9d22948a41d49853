import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

// Defence in depth: code never logs these, but a stray object that carries
// one (a config, a record) must not put it in a log line.
const REDACTED_PATHS = [
  'apiSecret',
  '*.apiSecret',
  'password',
  '*.password',
  'intakeToken',
  '*.intakeToken',
  'connectCardUri',
  '*.connectCardUri',
  'connect_card',
  '*.connect_card',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
];

export function createLogger(level: string, name = 'connect-card-worker') {
  return pino({
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  });
}
