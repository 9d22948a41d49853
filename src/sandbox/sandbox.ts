import { buildConnectorZip } from './connector-zip.ts';
import {
  startFivetranSimulator,
  type FivetranSimulator,
  type SimRateLimits,
} from './fivetran-simulator.ts';
import { startGcsFake, type GcsFake } from './gcs-fake.ts';
import { startSmtpInbox, type SmtpInbox } from './smtp-inbox.ts';

export const SANDBOX_BUCKET = 'sandbox-connectors';
export const SANDBOX_OBJECT = 'connectors/example/connector.zip';
export const SANDBOX_MAIL_FROM = 'Onboarding <onboarding@sandbox.test>';

export interface Sandbox {
  fivetran: FivetranSimulator;
  gcs: GcsFake;
  smtp: SmtpInbox;
  env: Record<string, string>;
  packageZip: Buffer;
  close(): Promise<void>;
}

export interface SandboxOptions {
  latencyMs?: number;
  rateLimits?: SimRateLimits;
  groupId?: string;
  apiKey?: string;
  apiSecret?: string;
}

export async function startSandbox(
  opts: SandboxOptions = {},
): Promise<Sandbox> {
  const groupId = opts.groupId ?? 'sandbox_group';
  const apiKey = opts.apiKey ?? 'sandbox-key';
  const apiSecret = opts.apiSecret ?? 'sandbox-secret';
  const packageZip = buildConnectorZip();
  const [fivetran, gcs, smtp] = await Promise.all([
    startFivetranSimulator({
      apiKey,
      apiSecret,
      groupIds: [groupId],
      ...(opts.latencyMs !== undefined ? { latencyMs: opts.latencyMs } : {}),
      ...(opts.rateLimits ? { rateLimits: opts.rateLimits } : {}),
    }),
    startGcsFake(),
    startSmtpInbox(),
  ]);
  gcs.putObject(SANDBOX_BUCKET, SANDBOX_OBJECT, packageZip);
  return {
    fivetran,
    gcs,
    smtp,
    packageZip,
    env: {
      FIVETRAN_API_URL: fivetran.url,
      FIVETRAN_API_KEY: apiKey,
      FIVETRAN_API_SECRET: apiSecret,
      FIVETRAN_GROUP_ID: groupId,
      CONNECTOR_PACKAGE: `gs://${SANDBOX_BUCKET}/${SANDBOX_OBJECT}`,
      STORAGE_EMULATOR_HOST: gcs.url,
      SMTP_URL: smtp.url,
      MAIL_FROM: SANDBOX_MAIL_FROM,
    },
    async close() {
      await Promise.all([fivetran.close(), gcs.close(), smtp.close()]);
    },
  };
}
