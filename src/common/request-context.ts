import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DOCS_PATHS, underDocs } from './docs-paths';

/**
 * What the registry knows about a request beyond HTTP, kept on Node's own request object so that both HTTP adapters
 * (and the hooks below them) reach it the same way: its id, and the key it came with.
 */
export interface RequestContext {
  requestId: string;
  /** The name of the API key (set by AuthGuard). */
  keyName?: string;
}

const CONTEXT = Symbol('agent-registry:request-context');
type WithContext = IncomingMessage & { [CONTEXT]?: RequestContext };

export const REQUEST_ID_HEADER = 'X-Request-Id';
/** A client's request id is echoed only if it is this tame: it goes into logs and a response header. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const AGENT_IN_PATH = /^\/agents\/([^/?#]+)/;

/** Node's request under Nest's: Express hands Node's own, Fastify wraps it (`raw`). */
export function rawRequest(request: IncomingMessage | { raw: IncomingMessage }): IncomingMessage {
  return 'raw' in request ? request.raw : request;
}

/** The client's address: the socket's, never a forwarding header (which anyone can send). */
export function clientAddress(raw: IncomingMessage): string | undefined {
  return raw.socket?.remoteAddress;
}

export function contextOf(raw: IncomingMessage): RequestContext | undefined {
  return (raw as WithContext)[CONTEXT];
}

const requestLogger = new Logger('HTTP');

/** What the adapter's first hook knows of a request beyond Node's objects, read once its answer is over. */
export interface RequestAccessors {
  /** The parsed body (register names its agent there). */
  body(): unknown;
  /** The route template that matched (`/agents/:agent_id`), if one did. */
  route(): string | undefined;
}

/** Requests that matched no route share one label, so that scanners cannot make a series or a field per path. */
export const UNMATCHED_ROUTE = 'unmatched';
/** The route of a request for logs and metrics: its template, `/docs` (Swagger UI and its files are one), or `unmatched`. */
export function routeLabel(url: string, matched: string | undefined): string {
  if (underDocs(url.split('?')[0])) return DOCS_PATHS.ui;
  return matched ?? UNMATCHED_ROUTE;
}

/**
 * Called by each adapter's first hook on every request: gives it an id (the client's X-Request-Id when it sent a
 * tame one), echoes it, and logs one line when the response is over, whatever answered it (the guard's 401 or 403,
 * validation, the handler, a raw hook's 503, a 5xx): the id, who (the key's name), from where, what (method, path,
 * route), which agent, the status and the duration. Writes are the audit trail and log at `log` (pino's info);
 * reads, probes and scrapes at `debug`; 5xx answers at `error`. Never headers, bodies or query strings.
 */
export function beginRequest(
  raw: IncomingMessage,
  response: ServerResponse,
  accessors: RequestAccessors,
): RequestContext {
  const started = process.hrtime.bigint();
  // As the request arrived: Express's mounted middleware rewrites raw.url, and one that answers does not restore it.
  const url = raw.url ?? '';
  const given = raw.headers['x-request-id'];
  const context: RequestContext = {
    requestId: typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID(),
  };
  (raw as WithContext)[CONTEXT] = context;
  response.setHeader(REQUEST_ID_HEADER, context.requestId);
  response.once('close', () => {
    const write = WRITE_METHODS.has(raw.method ?? '');
    const failed = response.statusCode >= 500;
    // A read's line is built only when it will be written: reads are most requests, and log at debug.
    if (!write && !failed && !Logger.isLevelEnabled('debug')) return;
    const line = requestLine(raw, url, response, context, accessors, Number(process.hrtime.bigint() - started) / 1e6);
    const message = `${line.method} ${line.path} ${line.status}`;
    if (failed) requestLogger.error(line, message);
    else if (write) requestLogger.log(line, message);
    else requestLogger.debug(line, message);
  });
  return context;
}

/** One request's log line: snake_case fields, as in the API. */
export interface RequestLine {
  request_id: string;
  method: string;
  path: string;
  route: string;
  /**
   * The status sent, or `aborted` when the client went away before an answer started. An answer cut off after it
   * started (a stream the client closed, a write cut at the shutdown timeout) keeps its status.
   */
  status: number | 'aborted';
  duration_ms: number;
  /** The name of the API key, or `-`. */
  key: string;
  client: string;
  /** For writes: the agent written. */
  agent?: string;
}

function requestLine(
  raw: IncomingMessage,
  url: string,
  response: ServerResponse,
  context: RequestContext,
  accessors: RequestAccessors,
  durationMs: number,
): RequestLine {
  const path = url.split('?')[0];
  const line: RequestLine = {
    request_id: context.requestId,
    method: method(raw),
    path: clip(path),
    route: routeLabel(url, accessors.route()),
    status: response.headersSent ? response.statusCode : 'aborted',
    duration_ms: Math.round(durationMs * 100) / 100,
    key: context.keyName ?? '-',
    client: clientAddress(raw) ?? '-',
  };
  if (WRITE_METHODS.has(line.method)) {
    const inPath = AGENT_IN_PATH.exec(path)?.[1];
    const inBody = (accessors.body() as { agent_id?: unknown } | undefined)?.agent_id;
    const agent = path === '/agents/register' ? (typeof inBody === 'string' ? inBody : undefined) : inPath;
    if (agent !== undefined) line.agent = clip(decode(agent));
  }
  return line;
}

const method = (raw: IncomingMessage) => raw.method ?? '-';

/** Paths and ids may be long (up to the router's and the body's limits); a log line stays short. */
function clip(text: string): string {
  return text.length > 256 ? `${text.slice(0, 256)}…` : text;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
