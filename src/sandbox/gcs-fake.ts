import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CRC32C } from '@google-cloud/storage';

export interface GcsRequest {
  method: string;
  path: string;
  /** Raw query string including the leading '?', or '' when absent. */
  query: string;
  at: number;
}

export interface GcsFake {
  url: string;
  putObject(bucket: string, name: string, bytes: Buffer): void;
  corruptNextDownloads(count: number): void;
  failNextRequests(count: number, status: number): void;
  requests: GcsRequest[];
  close(): Promise<void>;
}

interface StoredObject {
  bucket: string;
  name: string;
  bytes: Buffer;
  generation: string;
  createdAt: string;
  crc32c: string;
  md5: string;
}

// Both the apiEndpoint form (/storage/v1/b/...) and the STORAGE_EMULATOR_HOST
// form (/b/...) reach the same handler.
const OBJECT_PATH = /^(?:\/storage\/v1)?\/b\/([^/]+)\/o\/([^/]+)$/;

export function hostPort(address: AddressInfo): string {
  const host =
    address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${host}:${address.port}`;
}

function crc32cBase64(bytes: Buffer): string {
  const crc = new CRC32C();
  crc.update(bytes);
  return crc.toString();
}

function contentTypeFor(name: string): string {
  return name.endsWith('.zip') ? 'application/zip' : 'application/octet-stream';
}

function objectResource(object: StoredObject): Record<string, unknown> {
  return {
    kind: 'storage#object',
    id: `${object.bucket}/${object.name}/${object.generation}`,
    selfLink: `/storage/v1/b/${object.bucket}/o/${encodeURIComponent(object.name)}`,
    name: object.name,
    bucket: object.bucket,
    generation: object.generation,
    metageneration: '1',
    contentType: contentTypeFor(object.name),
    storageClass: 'STANDARD',
    size: String(object.bytes.length),
    md5Hash: object.md5,
    crc32c: object.crc32c,
    etag: `${object.generation}-1`,
    timeCreated: object.createdAt,
    updated: object.createdAt,
  };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown) {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': payload.length,
  });
  res.end(payload);
}

function sendError(res: http.ServerResponse, status: number, message: string) {
  sendJson(res, status, {
    error: {
      code: status,
      message,
      errors: [{ message, domain: 'global', reason: reasonFor(status) }],
    },
  });
}

function reasonFor(status: number): string {
  if (status === 404) return 'notFound';
  if (status === 429) return 'rateLimitExceeded';
  if (status >= 500) return 'backendError';
  return 'invalid';
}

// Flipping every bit keeps the length (so the transfer itself completes) while
// guaranteeing the checksum no longer matches the advertised x-goog-hash.
function corrupt(bytes: Buffer): Buffer {
  if (bytes.length === 0) return Buffer.from([0]);
  return Buffer.from(bytes.map((byte) => byte ^ 0xff));
}

function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header) : null;
  if (!match) return undefined;
  const [, from = '', to = ''] = match;
  if (from === '') {
    const suffix = Math.min(Number(to), size);
    return { start: size - suffix, end: size - 1 };
  }
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  return { start: Number(from), end };
}

function sendMedia(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  object: StoredObject,
  corrupted: boolean,
) {
  const body = corrupted ? corrupt(object.bytes) : object.bytes;
  const headers: http.OutgoingHttpHeaders = {
    'content-type': contentTypeFor(object.name),
    'x-goog-hash': `crc32c=${object.crc32c},md5=${object.md5}`,
    'x-goog-stored-content-encoding': 'identity',
    'x-goog-stored-content-length': String(object.bytes.length),
    'x-goog-generation': object.generation,
    'x-goog-metageneration': '1',
    'x-goog-storage-class': 'STANDARD',
    etag: `${object.generation}-1`,
    'last-modified': new Date(object.createdAt).toUTCString(),
  };
  const range = parseRange(req.headers.range, body.length);
  if (range) {
    const slice = body.subarray(range.start, range.end + 1);
    headers['content-range'] =
      `bytes ${range.start}-${range.end}/${body.length}`;
    headers['content-length'] = slice.length;
    res.writeHead(206, headers);
    res.end(slice);
    return;
  }
  headers['content-length'] = body.length;
  res.writeHead(200, headers);
  res.end(body);
}

export function startGcsFake(
  opts: { host?: string; port?: number } = {},
): Promise<GcsFake> {
  const objects = new Map<string, StoredObject>();
  const requests: GcsRequest[] = [];
  let corruptionsLeft = 0;
  let failuresLeft = 0;
  let failureStatus = 503;
  let generationCounter = 0;

  function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://gcs.local');
    requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      at: Date.now(),
    });
    if (failuresLeft > 0) {
      failuresLeft -= 1;
      sendError(res, failureStatus, 'Injected failure from the GCS fake.');
      return;
    }
    const match = OBJECT_PATH.exec(url.pathname);
    if (!match || (req.method !== 'GET' && req.method !== 'HEAD')) {
      sendError(res, 404, `No such route: ${req.method} ${url.pathname}`);
      return;
    }
    const bucket = decodeURIComponent(match[1] ?? '');
    const name = decodeURIComponent(match[2] ?? '');
    const object = objects.get(`${bucket}/${name}`);
    const generation = url.searchParams.get('generation');
    if (!object || (generation !== null && generation !== object.generation)) {
      sendError(res, 404, `No such object: ${bucket}/${name}`);
      return;
    }
    if (url.searchParams.get('alt') !== 'media') {
      sendJson(res, 200, objectResource(object));
      return;
    }
    const corrupted = corruptionsLeft > 0;
    if (corrupted) corruptionsLeft -= 1;
    sendMedia(req, res, object, corrupted);
  }

  const server = http.createServer((req, res) => {
    // Drain any request body so keep-alive connections stay usable.
    req.resume();
    req.on('end', () => handle(req, res));
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      resolve({
        url: `http://${hostPort(server.address() as AddressInfo)}`,
        requests,
        putObject(bucket, name, bytes) {
          generationCounter += 1;
          objects.set(`${bucket}/${name}`, {
            bucket,
            name,
            bytes: Buffer.from(bytes),
            generation: String(Date.now() * 1000 + generationCounter),
            createdAt: new Date().toISOString(),
            crc32c: crc32cBase64(bytes),
            md5: createHash('md5').update(bytes).digest('base64'),
          });
        },
        corruptNextDownloads(count) {
          corruptionsLeft = count;
        },
        failNextRequests(count, status) {
          failuresLeft = count;
          failureStatus = status;
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
