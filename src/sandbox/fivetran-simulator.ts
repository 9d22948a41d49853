import { createHash, createHmac, randomBytes, randomInt } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostPort } from './gcs-fake.ts';

export type SimRoute =
  | 'upload-package'
  | 'list-packages'
  | 'get-package'
  | 'delete-package'
  | 'create-connection'
  | 'list-connections'
  | 'get-connection'
  | 'delete-connection'
  | 'connect-card';

export type SimFault =
  | {
      route: SimRoute | '*';
      times?: number;
      kind: 'status';
      status: number;
      code?: string;
      message?: string;
      retryAfterSeconds?: number;
    }
  | { route: SimRoute | '*'; times?: number; kind: 'latency'; ms: number }
  | {
      route: SimRoute | '*';
      times?: number;
      kind: 'reset';
      when: 'before' | 'after';
    };

export interface SimRateLimit {
  max: number;
  windowMs: number;
}

export interface SimRateLimits {
  all?: SimRateLimit;
  create?: SimRateLimit;
}

export interface SimPackage {
  id: string;
  connection_id: string | null;
  created_at: string;
  updated_at: string;
  created_by: string;
  last_updated_by: string;
  file_sha256_hash: string;
  bytes: Buffer;
}

export interface SimConnection {
  id: string;
  group_id: string;
  schema: string;
  package_id: string;
  created_at: string;
  requestBody: unknown;
  connect_card_token: string;
}

export interface SimRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Raw query string including the leading '?', or ''. */
  query: string;
  route: SimRoute | 'unknown';
  /** 0 while in flight and when the socket was reset. */
  status: number;
  receivedAt: number;
  /** True when the operation took effect (2xx, or reset after acting). */
  acted: boolean;
}

export interface FivetranSimulator {
  url: string;
  packages: Map<string, SimPackage>;
  connections: Map<string, SimConnection>;
  requests: SimRequest[];
  inject(fault: SimFault): void;
  clearFaults(): void;
  /** Replaces the limits and starts fresh windows. */
  setRateLimits(limits: SimRateLimits): void;
  setLatency(ms: number): void;
  close(): Promise<void>;
}

export interface FivetranSimulatorOptions {
  apiKey: string;
  apiSecret: string;
  groupIds: string[];
  host?: string;
  port?: number;
  latencyMs?: number;
  rateLimits?: SimRateLimits;
  maxPackageBytes?: number;
  reboundPackageStatus?: 400 | 409;
  connectCardBaseUrl?: string;
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

type JsonObject = Record<string, unknown>;

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const DEFAULT_MAX_PACKAGE_BYTES = 200 * 1024 * 1024;
// Multipart boundaries and part headers ride on top of the file itself.
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
const MAX_JSON_BODY_BYTES = 1024 * 1024;
const DEFAULT_PAGE_LIMIT = 100;
const MAX_PAGE_LIMIT = 1000;
const SANDBOX_USER_ID = 'sandbox_owner';
const SCHEMA_PATTERN = /^[_a-z][_a-z0-9]*$/;
const SYNC_FREQUENCIES_MINUTES = [
  1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440,
];

const ADJECTIVES = [
  'happy',
  'brave',
  'calm',
  'eager',
  'gentle',
  'lively',
  'proud',
  'quiet',
  'rapid',
  'silent',
  'tidy',
  'witty',
  'bold',
  'crisp',
  'vivid',
  'mellow',
];
const NOUNS = [
  'harmony',
  'sickle',
  'meadow',
  'harbor',
  'lantern',
  'summit',
  'canyon',
  'orchard',
  'beacon',
  'glacier',
  'prairie',
  'falcon',
  'willow',
  'ember',
];

// --- small helpers -------------------------------------------------------

function pick(words: string[]): string {
  return words[randomInt(words.length)] ?? 'plain';
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function base64Url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

function success(status: number, message: string, data?: unknown): Reply {
  const body: JsonObject = { code: 'Success', message };
  if (data !== undefined) body.data = data;
  return { status, body };
}

function errorReply(status: number, code: string, message: string): Reply {
  return { status, body: { code, message } };
}

function defaultCodeFor(status: number): string {
  const codes: Record<number, string> = {
    400: 'InvalidInput',
    401: 'AuthFailed',
    403: 'Forbidden',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    406: 'NotAcceptable',
    409: 'Conflict',
    415: 'UnsupportedMediaType',
    429: 'TooManyRequests',
  };
  return codes[status] ?? (status >= 500 ? 'InternalServerError' : 'Error');
}

function invalid(message: string): HttpError {
  return new HttpError(400, 'InvalidInput', message);
}

function notFound(code: string, message: string): HttpError {
  return new HttpError(404, code, message);
}

function sleep(ms: number): Promise<void> {
  return ms > 0
    ? new Promise((resolve) => setTimeout(resolve, ms))
    : Promise.resolve();
}

// --- routing ---------------------------------------------------------------

interface RouteMatch {
  route: SimRoute | 'unknown';
  id?: string;
  /** Set when the path exists but the method does not. */
  methodNotAllowed?: boolean;
}

const ROUTE_TABLE: {
  pattern: RegExp;
  methods: Partial<Record<string, SimRoute>>;
}[] = [
  {
    pattern: /^\/v1\/connector-sdk\/packages\/?$/,
    methods: { POST: 'upload-package', GET: 'list-packages' },
  },
  {
    pattern: /^\/v1\/connector-sdk\/packages\/([^/]+)$/,
    methods: { GET: 'get-package', DELETE: 'delete-package' },
  },
  {
    pattern: /^\/v1\/connections\/?$/,
    methods: { POST: 'create-connection', GET: 'list-connections' },
  },
  {
    pattern: /^\/v1\/connections\/([^/]+)$/,
    methods: { GET: 'get-connection', DELETE: 'delete-connection' },
  },
  {
    pattern: /^\/v1\/connections\/([^/]+)\/connect-card$/,
    methods: { POST: 'connect-card' },
  },
];

function matchRoute(method: string, pathname: string): RouteMatch {
  for (const entry of ROUTE_TABLE) {
    const match = entry.pattern.exec(pathname);
    if (!match) continue;
    const route = entry.methods[method];
    const id =
      match[1] === undefined ? undefined : decodeURIComponent(match[1]);
    if (!route) return { route: 'unknown', methodNotAllowed: true };
    return id === undefined ? { route } : { route, id };
  }
  return { route: 'unknown' };
}

// --- header checks -----------------------------------------------------------

function isAcceptable(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((p) => p.trim());
    const mediaType = type.toLowerCase();
    if (!['application/json', 'application/*', '*/*'].includes(mediaType)) {
      return false;
    }
    const version = params
      .map((param) => param.split('='))
      .find(([name]) => name?.toLowerCase() === 'version')?.[1];
    return version === undefined || version === '2';
  });
}

function mediaTypeOf(req: http.IncomingMessage): string {
  return (req.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
}

function credentialsMatch(
  header: string | undefined,
  expected: string,
): boolean {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) return false;
  return Buffer.from(match[1] ?? '', 'base64').toString('utf8') === expected;
}

// --- body reading -------------------------------------------------------------

async function readBody(
  req: http.IncomingMessage,
  limitBytes: number,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    // Keep draining so the client can read our 400 instead of a broken pipe.
    if (total > limitBytes) tooLarge = true;
    if (!tooLarge) chunks.push(chunk as Buffer);
  }
  return tooLarge ? undefined : Buffer.concat(chunks);
}

function parseJsonBody(req: http.IncomingMessage, raw: Buffer): JsonObject {
  if (mediaTypeOf(req) !== 'application/json') {
    throw new HttpError(
      415,
      'UnsupportedMediaType',
      "Content-Type must be 'application/json'",
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalid('Request body is not valid JSON');
  }
  if (!isObject(parsed)) throw invalid('Request body must be a JSON object');
  return parsed;
}

async function parseUploadedFile(
  req: http.IncomingMessage,
  raw: Buffer,
): Promise<Buffer> {
  const contentType = req.headers['content-type'] ?? '';
  if (mediaTypeOf(req) !== 'multipart/form-data') {
    throw new HttpError(
      415,
      'UnsupportedMediaType',
      "Content-Type must be 'multipart/form-data'",
    );
  }
  let form: FormData;
  try {
    form = await new Request('http://simulator.local/', {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: raw,
    }).formData();
  } catch {
    throw invalid('Malformed multipart/form-data body');
  }
  const file = form.get('file');
  if (file === null || typeof file === 'string') {
    throw invalid('Invalid package file or missing file parameter');
  }
  return Buffer.from(await file.arrayBuffer());
}

// --- pagination ------------------------------------------------------------------

interface Page<T> {
  items: T[];
  next_cursor?: string;
}

function paginate<T>(all: T[], query: URLSearchParams): Page<T> {
  const limitParam = query.get('limit');
  const limit = limitParam === null ? DEFAULT_PAGE_LIMIT : Number(limitParam);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw invalid(`Invalid 'limit': expected an integer 1..${MAX_PAGE_LIMIT}`);
  }
  const skip = decodeCursor(query.get('cursor'));
  const items = all.slice(skip, skip + limit);
  const page: Page<T> = { items };
  if (skip + limit < all.length) page.next_cursor = encodeCursor(skip + limit);
  return page;
}

function encodeCursor(skip: number): string {
  return base64Url(JSON.stringify({ skip }));
}

function decodeCursor(cursor: string | null): number {
  if (cursor === null || cursor === '') return 0;
  try {
    const parsed: unknown = JSON.parse(
      Buffer.from(cursor, 'base64url').toString('utf8'),
    );
    if (isObject(parsed) && Number.isInteger(parsed.skip)) {
      return Math.max(0, parsed.skip as number);
    }
  } catch {
    // fall through to the error below
  }
  throw invalid("Invalid 'cursor'");
}

// --- rate limiting ------------------------------------------------------------------

class RollingWindow {
  readonly limit: SimRateLimit;
  private readonly arrivalsMs: number[] = [];
  constructor(limit: SimRateLimit) {
    this.limit = limit;
  }

  private prune(nowMs: number) {
    while (
      this.arrivalsMs.length > 0 &&
      this.arrivalsMs[0]! <= nowMs - this.limit.windowMs
    ) {
      this.arrivalsMs.shift();
    }
  }

  /** Seconds until a slot frees up, or 0 when the request fits now. */
  retryAfterSeconds(nowMs: number): number {
    this.prune(nowMs);
    if (this.arrivalsMs.length < this.limit.max) return 0;
    const oldestMs = this.arrivalsMs[0] ?? nowMs;
    return Math.max(
      1,
      Math.ceil((oldestMs + this.limit.windowMs - nowMs) / 1000),
    );
  }

  record(nowMs: number) {
    this.arrivalsMs.push(nowMs);
  }

  remaining(nowMs: number): number {
    this.prune(nowMs);
    return Math.max(0, this.limit.max - this.arrivalsMs.length);
  }
}

function describeWindow(windowMs: number): string {
  if (windowMs === 60_000) return 'one-minute';
  if (windowMs === 3_600_000) return 'one-hour';
  return `${windowMs / 1000}-second`;
}

// --- resource rendering ---------------------------------------------------------------

function renderPackage(pkg: SimPackage): JsonObject {
  return {
    id: pkg.id,
    connection_id: pkg.connection_id,
    created_by: pkg.created_by,
    last_updated_by: pkg.last_updated_by,
    created_at: pkg.created_at,
    updated_at: pkg.updated_at,
    file_sha256_hash: pkg.file_sha256_hash,
  };
}

function maskSecrets(secrets: unknown): { key: string; value: string }[] {
  if (!Array.isArray(secrets)) return [];
  return secrets.map((secret: { key: string }) => ({
    key: secret.key,
    value: '******',
  }));
}

// --- the simulator ---------------------------------------------------------------------

export function startFivetranSimulator(
  opts: FivetranSimulatorOptions,
): Promise<FivetranSimulator> {
  const expectedCredentials = `${opts.apiKey}:${opts.apiSecret}`;
  const groupIds = new Set(opts.groupIds);
  const maxPackageBytes = opts.maxPackageBytes ?? DEFAULT_MAX_PACKAGE_BYTES;
  const reboundStatus = opts.reboundPackageStatus ?? 409;
  const connectCardBaseUrl = (
    opts.connectCardBaseUrl ?? 'https://fivetran.com'
  ).replace(/\/$/, '');
  const tokenSigningKey = randomBytes(32);
  const packages = new Map<string, SimPackage>();
  const connections = new Map<string, SimConnection>();
  const requests: SimRequest[] = [];
  let faults: (SimFault & { remaining: number })[] = [];
  let latencyMs = opts.latencyMs ?? 0;
  let allWindow: RollingWindow | undefined;
  let createWindow: RollingWindow | undefined;
  let idCounter = 0;

  function setRateLimits(limits: SimRateLimits) {
    allWindow = limits.all ? new RollingWindow(limits.all) : undefined;
    createWindow = limits.create ? new RollingWindow(limits.create) : undefined;
  }
  setRateLimits(opts.rateLimits ?? {});

  function newId(): string {
    idCounter += 1;
    return `${pick(ADJECTIVES)}_${pick(NOUNS)}_${idCounter}`;
  }

  function takeFault(route: SimRoute | 'unknown'): SimFault | undefined {
    const index = faults.findIndex(
      (fault) => fault.route === '*' || fault.route === route,
    );
    const fault = faults[index];
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) faults.splice(index, 1);
    return fault;
  }

  /** Returns a 429 reply when over a limit; otherwise counts the request. */
  function admit(
    route: SimRoute | 'unknown',
    nowMs: number,
  ): Reply | undefined {
    const isCreate = route === 'create-connection';
    const allWait = allWindow?.retryAfterSeconds(nowMs) ?? 0;
    if (allWindow && allWait > 0) {
      return tooManyRequests(
        allWait,
        `Max ${allWindow.limit.max} api calls allowed in ${describeWindow(allWindow.limit.windowMs)} rolling time period`,
      );
    }
    const createWait = isCreate
      ? (createWindow?.retryAfterSeconds(nowMs) ?? 0)
      : 0;
    if (createWindow && createWait > 0) {
      return tooManyRequests(
        createWait,
        `No more than ${createWindow.limit.max} connectors can be created in ${describeWindow(createWindow.limit.windowMs)} time period`,
      );
    }
    allWindow?.record(nowMs);
    if (isCreate) createWindow?.record(nowMs);
    return undefined;
  }

  function tooManyRequests(retryAfterSeconds: number, message: string): Reply {
    return {
      status: 429,
      body: { code: 'TooManyRequests', message },
      headers: { 'retry-after': String(retryAfterSeconds) },
    };
  }

  function faultReply(fault: Extract<SimFault, { kind: 'status' }>): Reply {
    const code = fault.code ?? defaultCodeFor(fault.status);
    const message =
      fault.message ??
      (fault.status === 429
        ? 'Max 600 api calls allowed in one-minute rolling time period'
        : `Injected ${fault.status} from the Fivetran simulator`);
    const reply = errorReply(fault.status, code, message);
    if (fault.status === 429) {
      reply.headers = { 'retry-after': String(fault.retryAfterSeconds ?? 1) };
    } else if (fault.retryAfterSeconds !== undefined) {
      reply.headers = { 'retry-after': String(fault.retryAfterSeconds) };
    }
    return reply;
  }

  // --- packages ---

  function requirePackage(id: string): SimPackage {
    const pkg = packages.get(id);
    if (!pkg) {
      throw notFound('NotFound_ConnectorSdkPackage', 'Package not found');
    }
    return pkg;
  }

  async function uploadPackage(
    req: http.IncomingMessage,
    raw: Buffer,
  ): Promise<Reply> {
    const bytes = await parseUploadedFile(req, raw);
    if (bytes.length > maxPackageBytes) {
      throw invalid(`Package file exceeds ${maxPackageBytes} bytes`);
    }
    const now = new Date().toISOString();
    const pkg: SimPackage = {
      id: newId(),
      connection_id: null,
      created_at: now,
      updated_at: now,
      created_by: SANDBOX_USER_ID,
      last_updated_by: SANDBOX_USER_ID,
      file_sha256_hash: createHash('sha256').update(bytes).digest('hex'),
      bytes,
    };
    packages.set(pkg.id, pkg);
    return success(201, 'Package created successfully', renderPackage(pkg));
  }

  function listPackages(query: URLSearchParams): Reply {
    const page = paginate([...packages.values()], query);
    return success(200, 'Connector SDK packages retrieved successfully', {
      ...page,
      items: page.items.map(renderPackage),
    });
  }

  function deletePackage(id: string): Reply {
    const pkg = requirePackage(id);
    if (pkg.connection_id !== null) {
      throw new HttpError(
        403,
        'Forbidden',
        'Package is associated with a connection and cannot be deleted',
      );
    }
    packages.delete(id);
    return success(200, 'Package deleted successfully');
  }

  // --- connections ---

  function requireConnection(id: string): SimConnection {
    const connection = connections.get(id);
    if (!connection) {
      throw notFound(
        'NotFound_Connector',
        `Connection with id '${id}' does not exist`,
      );
    }
    return connection;
  }

  function requireGroup(groupId: unknown): string {
    if (typeof groupId !== 'string' || groupId === '') {
      throw invalid("Field 'group_id' is required");
    }
    if (!groupIds.has(groupId)) {
      throw notFound(
        'NotFound_Group',
        `Group with id '${groupId}' does not exist`,
      );
    }
    return groupId;
  }

  function issueToken(connection: SimConnection): string {
    const header = base64Url(JSON.stringify({ typ: 'JWT', alg: 'HS256' }));
    const payload = base64Url(
      JSON.stringify({
        d: {
          login: true,
          user: SANDBOX_USER_ID,
          account: 'sandbox_account',
          group: connection.group_id,
          connector: connection.id,
          method: 'PbfCard',
          identity: false,
        },
        iat: Math.floor(Date.now() / 1000),
        // A nonce keeps two tokens issued in the same second distinct.
        n: randomBytes(6).toString('hex'),
      }),
    );
    const signature = createHmac('sha256', tokenSigningKey)
      .update(`${header}.${payload}`)
      .digest('base64url');
    return `${header}.${payload}.${signature}`;
  }

  function connectCardOf(cardConfig: JsonObject, token: string): JsonObject {
    const hideGuide =
      cardConfig.hide_setup_guide === true ? '&hide_setup_guide=true' : '';
    return {
      token,
      uri: `${connectCardBaseUrl}/connect-card/setup?redirect_uri=${String(cardConfig.redirect_uri)}&auth=${token}${hideGuide}`,
    };
  }

  function renderConnection(connection: SimConnection): JsonObject {
    const body = connection.requestBody as JsonObject;
    const config = body.config as JsonObject;
    const paused = typeof body.paused === 'boolean' ? body.paused : true;
    const rendered: JsonObject = {
      id: connection.id,
      group_id: connection.group_id,
      service: 'connector_sdk',
      service_version: 0,
      schema: connection.schema,
      connected_by: SANDBOX_USER_ID,
      created_at: connection.created_at,
      succeeded_at: null,
      failed_at: null,
      paused,
      pause_after_trial: body.pause_after_trial === true,
      sync_frequency: Number(body.sync_frequency ?? 360),
      schedule_type: body.schedule_type ?? 'auto',
      data_delay_sensitivity: body.data_delay_sensitivity ?? 'NORMAL',
      data_delay_threshold: body.data_delay_threshold ?? 0,
      networking_method: body.networking_method ?? 'Directly',
      destination_schema_names:
        body.destination_schema_names ?? 'FIVETRAN_NAMING',
      status: {
        setup_state: 'incomplete',
        sync_state: paused ? 'paused' : 'scheduled',
        update_state: 'on_schedule',
        is_historical_sync: true,
        tasks: [],
        warnings: [],
      },
      setup_tests: [],
      config: {
        package_id: connection.package_id,
        ...(typeof config.python_version === 'string'
          ? { python_version: config.python_version }
          : {}),
        secrets_list: maskSecrets(config.secrets_list),
      },
    };
    if (isObject(body.connect_card_config)) {
      rendered.connect_card = connectCardOf(
        body.connect_card_config,
        connection.connect_card_token,
      );
      rendered.connect_card_config = body.connect_card_config;
    }
    return rendered;
  }

  function validateSecrets(secrets: unknown) {
    if (secrets === undefined) return;
    const valid =
      Array.isArray(secrets) &&
      secrets.every(
        (secret) =>
          isObject(secret) &&
          typeof secret.key === 'string' &&
          typeof secret.value === 'string',
      );
    if (!valid) {
      throw invalid(
        "Field 'config.secrets_list' must be an array of {key, value} strings",
      );
    }
  }

  function validateConnectCardConfig(cardConfig: unknown) {
    if (cardConfig === undefined) return;
    const redirectUri = isObject(cardConfig)
      ? cardConfig.redirect_uri
      : undefined;
    if (typeof redirectUri !== 'string' || !/^https?:\/\//.test(redirectUri)) {
      throw invalid(
        "Field 'connect_card_config.redirect_uri' is required and must start with http:// or https://",
      );
    }
  }

  function validateSyncFrequency(frequency: unknown) {
    if (frequency === undefined) return;
    const minutes = Number(frequency);
    const numeric =
      typeof frequency === 'number' || typeof frequency === 'string';
    if (!numeric || !SYNC_FREQUENCIES_MINUTES.includes(minutes)) {
      throw invalid(
        `Field 'sync_frequency' must be one of ${SYNC_FREQUENCIES_MINUTES.join(', ')}`,
      );
    }
  }

  function requireSchema(config: JsonObject): string {
    const schema = config.schema;
    if (schema === undefined) throw invalid("Field 'schema' is required");
    if (typeof schema !== 'string' || !SCHEMA_PATTERN.test(schema)) {
      throw invalid(
        `Invalid schema name '${String(schema)}': it must match ${SCHEMA_PATTERN.source}`,
      );
    }
    return schema;
  }

  function requireUnboundPackage(config: JsonObject): SimPackage {
    const packageId = config.package_id;
    if (typeof packageId !== 'string' || packageId === '') {
      throw invalid("Field 'config.package_id' is required");
    }
    const pkg = packages.get(packageId);
    if (!pkg) {
      throw invalid(`Connector SDK package '${packageId}' does not exist`);
    }
    if (pkg.connection_id !== null) {
      throw new HttpError(
        reboundStatus,
        reboundStatus === 409 ? 'Conflict' : 'InvalidInput',
        `Package '${packageId}' is already associated with connection '${pkg.connection_id}'`,
      );
    }
    return pkg;
  }

  function createConnection(body: JsonObject): Reply {
    const groupId = requireGroup(body.group_id);
    if (body.service !== 'connector_sdk') {
      throw invalid("Field 'service' must be 'connector_sdk'");
    }
    if (!isObject(body.config)) throw invalid("Field 'config' is required");
    const schema = requireSchema(body.config);
    validateSecrets(body.config.secrets_list);
    validateConnectCardConfig(body.connect_card_config);
    validateSyncFrequency(body.sync_frequency);
    const duplicate = [...connections.values()].find(
      (existing) => existing.group_id === groupId && existing.schema === schema,
    );
    if (duplicate) {
      throw new HttpError(
        409,
        'Conflict',
        `Connection with schema '${schema}' already exists in group '${groupId}'`,
      );
    }
    const pkg = requireUnboundPackage(body.config);
    const connection: SimConnection = {
      id: newId(),
      group_id: groupId,
      schema,
      package_id: pkg.id,
      created_at: new Date().toISOString(),
      requestBody: body,
      connect_card_token: '',
    };
    connection.connect_card_token = issueToken(connection);
    connections.set(connection.id, connection);
    pkg.connection_id = connection.id;
    return success(
      201,
      'Connection has been created',
      renderConnection(connection),
    );
  }

  function listConnections(query: URLSearchParams): Reply {
    const groupId = query.get('group_id');
    if (groupId !== null) requireGroup(groupId);
    const schema = query.get('schema');
    const matching = [...connections.values()].filter(
      (connection) =>
        (groupId === null || connection.group_id === groupId) &&
        (schema === null || connection.schema === schema),
    );
    const page = paginate(matching, query);
    return success(200, 'Connections retrieved successfully', {
      ...page,
      items: page.items.map(renderConnection),
    });
  }

  function deleteConnection(id: string): Reply {
    const connection = requireConnection(id);
    connections.delete(id);
    const pkg = packages.get(connection.package_id);
    if (pkg && pkg.connection_id === id) pkg.connection_id = null;
    return success(200, `Connection with id '${id}' has been deleted`);
  }

  function createConnectCard(id: string, body: JsonObject): Reply {
    const connection = requireConnection(id);
    validateConnectCardConfig(body.connect_card_config);
    const cardConfig = body.connect_card_config as JsonObject;
    connection.connect_card_token = issueToken(connection);
    return success(200, 'Connection Connect Card has been created', {
      connector_id: connection.id,
      connect_card: connectCardOf(cardConfig, connection.connect_card_token),
      connect_card_config: cardConfig,
    });
  }

  async function act(
    req: http.IncomingMessage,
    match: RouteMatch,
    query: URLSearchParams,
    raw: Buffer,
  ): Promise<Reply> {
    const id = match.id ?? '';
    switch (match.route) {
      case 'upload-package':
        return uploadPackage(req, raw);
      case 'list-packages':
        return listPackages(query);
      case 'get-package':
        return success(
          200,
          'Connector SDK package details retrieved successfully',
          renderPackage(requirePackage(id)),
        );
      case 'delete-package':
        return deletePackage(id);
      case 'create-connection':
        return createConnection(parseJsonBody(req, raw));
      case 'list-connections':
        return listConnections(query);
      case 'get-connection':
        return success(
          200,
          'Connection details retrieved successfully',
          renderConnection(requireConnection(id)),
        );
      case 'delete-connection':
        return deleteConnection(id);
      case 'connect-card':
        return createConnectCard(id, parseJsonBody(req, raw));
      case 'unknown':
        return match.methodNotAllowed
          ? errorReply(405, 'MethodNotAllowed', 'HTTP 405 Method Not Allowed')
          : errorReply(404, 'NotFound', 'HTTP 404 Not Found');
    }
  }

  async function actSafely(
    req: http.IncomingMessage,
    match: RouteMatch,
    query: URLSearchParams,
    raw: Buffer | undefined,
  ): Promise<Reply> {
    try {
      if (raw === undefined) {
        throw invalid(`Request body exceeds ${maxPackageBytes} bytes`);
      }
      return await act(req, match, query, raw);
    } catch (error) {
      if (error instanceof HttpError) {
        return errorReply(error.status, error.code, error.message);
      }
      throw error;
    }
  }

  function send(res: http.ServerResponse, record: SimRequest, reply: Reply) {
    const payload = Buffer.from(JSON.stringify(reply.body));
    const headers: Record<string, string | number> = {
      'content-type': 'application/json;charset=UTF-8',
      'content-length': payload.length,
      ...reply.headers,
    };
    if (allWindow) {
      const nowMs = Date.now();
      headers['x-rate-limit'] = allWindow.limit.max;
      headers['x-rate-limit-remaining'] = allWindow.remaining(nowMs);
    }
    record.status = reply.status;
    res.writeHead(reply.status, headers);
    res.end(payload);
  }

  function resetSocket(req: http.IncomingMessage, record: SimRequest) {
    record.status = 0;
    req.socket.destroy();
  }

  type GateResult = { reply: Reply } | { fault: SimFault } | undefined;

  /** Auth, Accept, rate limits and faults, decided when the request arrives. */
  function gate(
    req: http.IncomingMessage,
    match: RouteMatch,
    receivedAt: number,
  ): GateResult {
    if (!credentialsMatch(req.headers.authorization, expectedCredentials)) {
      return {
        reply: errorReply(
          401,
          'AuthFailed',
          'Missing or invalid API key and secret in the Authorization header',
        ),
      };
    }
    if (!isAcceptable(req.headers.accept)) {
      return {
        reply: errorReply(
          406,
          'NotAcceptable',
          `Unsupported Accept header '${req.headers.accept}'`,
        ),
      };
    }
    const limited = admit(match.route, receivedAt);
    if (limited) return { reply: limited };
    const fault = takeFault(match.route);
    return fault ? { fault } : undefined;
  }

  async function respond(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    record: SimRequest,
    gated: GateResult,
    work: () => Promise<Reply>,
  ) {
    const fault = gated && 'fault' in gated ? gated.fault : undefined;
    await sleep(latencyMs + (fault?.kind === 'latency' ? fault.ms : 0));
    if (gated && 'reply' in gated) return send(res, record, gated.reply);
    if (fault?.kind === 'status') return send(res, record, faultReply(fault));
    if (fault?.kind === 'reset' && fault.when === 'before') {
      return resetSocket(req, record);
    }
    const reply = await work();
    record.acted = reply.status >= 200 && reply.status < 300;
    if (fault?.kind === 'reset') return resetSocket(req, record);
    send(res, record, reply);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const receivedAt = Date.now();
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://simulator.local');
    const isApi = url.pathname.startsWith('/v1/');
    const match: RouteMatch = isApi
      ? matchRoute(method, url.pathname)
      : { route: 'unknown' };
    const record: SimRequest = {
      method,
      path: url.pathname,
      query: url.search,
      route: match.route,
      status: 0,
      receivedAt,
      acted: false,
    };
    requests.push(record);
    // Gating before the body is read keeps rate-limit windows in arrival order.
    const gated: GateResult = isApi
      ? gate(req, match, receivedAt)
      : { reply: errorReply(404, 'NotFound', 'HTTP 404 Not Found') };
    const limitBytes =
      match.route === 'upload-package'
        ? maxPackageBytes + MULTIPART_OVERHEAD_BYTES
        : MAX_JSON_BODY_BYTES;
    const raw = await readBody(req, limitBytes);
    await respond(req, res, record, gated, () =>
      actSafely(req, match, url.searchParams, raw),
    );
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent || req.socket.destroyed) return;
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ code: 'InternalServerError', message: String(error) }),
      );
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      resolve({
        url: `http://${hostPort(server.address() as AddressInfo)}`,
        packages,
        connections,
        requests,
        inject(fault) {
          faults.push({ ...fault, remaining: fault.times ?? 1 });
        },
        clearFaults() {
          faults = [];
        },
        setRateLimits,
        setLatency(ms) {
          latencyMs = ms;
        },
        close() {
          return new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
        },
      });
    });
  });
}
