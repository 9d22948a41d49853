import { Agent, FormData, errors as undiciErrors, request } from 'undici';
import type { Dispatcher } from 'undici';
import { ErrorCode, ServiceError } from '../errors.ts';
import type { BudgetKind, RequestBudget } from './request-budget.ts';
import type {
  ConnectionRequest,
  FivetranConnection,
  FivetranPackage,
  Page,
} from './types.ts';

// Used when a 429 carries no usable Retry-After; Fivetran documents one, so
// this is a guard, not the normal path.
const DEFAULT_RETRY_AFTER_SECONDS = 30;
// Fivetran says it never asks for more than an hour.
const MAX_RETRY_AFTER_SECONDS = 3600;

const ACCEPT_CONNECTIONS = 'application/json;version=2';
const ACCEPT_DEFAULT = 'application/json';

export interface FivetranClientOptions {
  apiUrl: string;
  apiKey: string;
  apiSecret: string;
  timeoutMs: number;
  budget: RequestBudget;
  userAgent: string;
  dispatcher?: Dispatcher;
}

interface CallOptions {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | undefined>;
  json?: unknown;
  form?: FormData;
  budget?: BudgetKind;
  signal?: AbortSignal;
}

interface Envelope<T> {
  code: string;
  message?: string;
  data?: T;
}

export type FivetranClient = ReturnType<typeof createFivetranClient>;

export function createFivetranClient(options: FivetranClientOptions) {
  const dispatcher =
    options.dispatcher ??
    new Agent({ keepAliveTimeout: 10_000, connections: 16 });
  const authorization =
    'Basic ' +
    Buffer.from(`${options.apiKey}:${options.apiSecret}`).toString('base64');

  async function call<T>(call: CallOptions): Promise<{
    status: number;
    body: Envelope<T>;
  }> {
    try {
      await options.budget.acquire(call.budget ?? 'request', call.signal);
    } catch (error) {
      if (call.signal?.aborted) throw transportError(call, error);
      throw error;
    }
    const url = new URL(`${options.apiUrl}${call.path}`);
    for (const [name, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, value);
    }
    const headers: Record<string, string> = {
      authorization,
      'user-agent': options.userAgent,
      accept: call.path.startsWith('/v1/connections')
        ? ACCEPT_CONNECTIONS
        : ACCEPT_DEFAULT,
    };
    let body: string | FormData | undefined;
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.json);
    } else if (call.form) {
      body = call.form;
    }
    const signals = [AbortSignal.timeout(options.timeoutMs)];
    if (call.signal) signals.push(call.signal);
    let response: Dispatcher.ResponseData;
    let text: string;
    try {
      response = await request(url, {
        method: call.method,
        headers,
        body,
        dispatcher,
        signal: AbortSignal.any(signals),
      });
      text = await response.body.text();
    } catch (error) {
      throw transportError(call, error);
    }
    if (response.statusCode === 429) {
      const retryAfterSeconds = parseRetryAfter(
        response.headers['retry-after'],
      );
      await options.budget.pause(retryAfterSeconds * 1000);
      throw new ServiceError(
        ErrorCode.FivetranRateLimited,
        `Fivetran rate limited ${call.method} ${call.path}`,
        {
          httpStatus: 429,
          upstreamCode: parseEnvelope<T>(text)?.code,
          retryAfterSeconds,
        },
      );
    }
    const envelope = parseEnvelope<T>(text);
    if (response.statusCode >= 200 && response.statusCode < 300) {
      if (!envelope) {
        throw new ServiceError(
          ErrorCode.FivetranBadResponse,
          `Fivetran answered ${call.method} ${call.path} with a body that is not JSON`,
          { httpStatus: response.statusCode },
        );
      }
      return { status: response.statusCode, body: envelope };
    }
    throw statusError(call, response.statusCode, envelope);
  }

  async function data<T>(options: CallOptions): Promise<T> {
    const { status, body } = await call<T>(options);
    if (body.data === undefined || body.data === null) {
      throw new ServiceError(
        ErrorCode.FivetranBadResponse,
        `Fivetran answered ${options.method} ${options.path} without data`,
        { httpStatus: status },
      );
    }
    return body.data;
  }

  async function page<T>(options: CallOptions): Promise<Page<T>> {
    const body = await data<{ items?: T[]; next_cursor?: string }>(options);
    return { items: body.items ?? [], nextCursor: body.next_cursor };
  }

  return {
    uploadPackage(zip: Buffer, fileName: string, signal?: AbortSignal) {
      const form = new FormData();
      form.append(
        'file',
        new Blob([new Uint8Array(zip)], { type: 'application/zip' }),
        fileName,
      );
      return data<FivetranPackage>({
        method: 'POST',
        path: '/v1/connector-sdk/packages',
        form,
        signal,
      });
    },

    listPackages(cursor?: string, signal?: AbortSignal) {
      return page<FivetranPackage>({
        method: 'GET',
        path: '/v1/connector-sdk/packages',
        query: { cursor, limit: '1000' },
        signal,
      });
    },

    /** Deletes a package; one that is already gone counts as deleted. */
    async deletePackage(packageId: string, signal?: AbortSignal) {
      try {
        await call({
          method: 'DELETE',
          path: `/v1/connector-sdk/packages/${encodeURIComponent(packageId)}`,
          signal,
        });
        return 'deleted' as const;
      } catch (error) {
        if (isNotFound(error)) return 'already-gone' as const;
        throw error;
      }
    },

    createConnection(body: ConnectionRequest, signal?: AbortSignal) {
      return data<FivetranConnection>({
        method: 'POST',
        path: '/v1/connections',
        json: body,
        budget: 'create',
        signal,
      });
    },

    /** The connection with this exact schema in the group, if any. */
    async findConnection(
      groupId: string,
      schema: string,
      signal?: AbortSignal,
    ): Promise<FivetranConnection | undefined> {
      const found = await page<FivetranConnection>({
        method: 'GET',
        path: '/v1/connections',
        query: { group_id: groupId, schema },
        signal,
      });
      // The filter is documented as exact; checking again costs nothing and
      // guards against a server that treats it as a prefix.
      return found.items.find(
        (item) => item.schema === schema && item.group_id === groupId,
      );
    },

    createConnectCard(
      connectionId: string,
      redirectUri: string,
      signal?: AbortSignal,
    ) {
      return data<{ connect_card: { uri: string } }>({
        method: 'POST',
        path: `/v1/connections/${encodeURIComponent(connectionId)}/connect-card`,
        json: { connect_card_config: { redirect_uri: redirectUri } },
        signal,
      });
    },

    close() {
      return dispatcher.close();
    },
  };
}

export function isNotFound(error: unknown): boolean {
  return (
    error instanceof ServiceError &&
    error.code === ErrorCode.FivetranRejected &&
    error.details.httpStatus === 404
  );
}

function parseEnvelope<T>(text: string): Envelope<T> | undefined {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && 'code' in parsed) {
      return parsed as Envelope<T>;
    }
  } catch {
    // Not JSON: the caller reports it with the status it came with.
  }
  return undefined;
}

function parseRetryAfter(header: string | string[] | undefined): number {
  const value = Number(Array.isArray(header) ? header[0] : header);
  if (!Number.isFinite(value) || value < 0) return DEFAULT_RETRY_AFTER_SECONDS;
  return Math.min(Math.ceil(value), MAX_RETRY_AFTER_SECONDS);
}

function statusError(
  call: CallOptions,
  status: number,
  envelope: Envelope<unknown> | undefined,
): ServiceError {
  const upstream = envelope
    ? `${envelope.code}: ${envelope.message ?? ''}`.trim()
    : `HTTP ${status}`;
  const details = { httpStatus: status, upstreamCode: envelope?.code };
  if (status >= 500) {
    return new ServiceError(
      ErrorCode.FivetranUnavailable,
      `Fivetran failed ${call.method} ${call.path} (${status}): ${upstream}`,
      details,
    );
  }
  return new ServiceError(
    ErrorCode.FivetranRejected,
    `Fivetran rejected ${call.method} ${call.path} (${status}): ${upstream}`,
    details,
  );
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function transportError(call: CallOptions, error: unknown): ServiceError {
  const code = (error as { code?: string }).code;
  const name = (error as { name?: string }).name;
  const timedOut =
    name === 'TimeoutError' ||
    (code !== undefined && TIMEOUT_CODES.has(code)) ||
    error instanceof undiciErrors.HeadersTimeoutError;
  if (call.signal?.aborted) {
    return new ServiceError(
      ErrorCode.ShuttingDown,
      `${call.method} ${call.path} was cancelled`,
      {},
      { cause: error },
    );
  }
  return new ServiceError(
    timedOut ? ErrorCode.FivetranTimeout : ErrorCode.FivetranNetwork,
    `${call.method} ${call.path} failed: ${timedOut ? 'timed out' : (code ?? (error as Error).message)}`,
    {},
    { cause: error },
  );
}
