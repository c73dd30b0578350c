import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

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

const auditLogger = new Logger('Audit');

/**
 * Called by each adapter's first hook on every request: gives it an id (the client's X-Request-Id when it sent a
 * tame one), echoes it, and, for a write, logs one audit line when the response is over, whatever answered it (the
 * guard's 401 or 403, validation, the handler, a 5xx): who (the key's name, or `-`), from where, what, which agent,
 * and the status. `body` reads the parsed body once the response is over (register names its agent there).
 */
export function beginRequest(raw: IncomingMessage, response: ServerResponse, body: () => unknown): RequestContext {
  const given = raw.headers['x-request-id'];
  const context: RequestContext = {
    requestId: typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID(),
  };
  (raw as WithContext)[CONTEXT] = context;
  response.setHeader(REQUEST_ID_HEADER, context.requestId);
  const method = raw.method ?? '';
  if (WRITE_METHODS.has(method)) {
    response.once('close', () => auditLogger.log(auditLine(raw, response, context, body())));
  }
  return context;
}

function auditLine(raw: IncomingMessage, response: ServerResponse, context: RequestContext, body: unknown): string {
  const path = (raw.url ?? '').split('?')[0];
  const inPath = AGENT_IN_PATH.exec(path)?.[1];
  const inBody = (body as { agent_id?: unknown } | undefined)?.agent_id;
  const agent = path === '/agents/register' ? (typeof inBody === 'string' ? inBody : undefined) : inPath;
  const result = response.writableFinished ? String(response.statusCode) : 'aborted';
  return [
    `request=${context.requestId}`,
    `key=${context.keyName ?? '-'}`,
    `client=${clientAddress(raw) ?? '-'}`,
    `${method(raw)} ${JSON.stringify(clip(path)).slice(1, -1)}`,
    `agent=${agent === undefined ? '-' : JSON.stringify(clip(decode(agent)))}`,
    `result=${result}`,
  ].join(' ');
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
