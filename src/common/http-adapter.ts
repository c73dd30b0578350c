import { HttpStatus } from '@nestjs/common';
import { AbstractHttpAdapter } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { Express } from 'express';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import helmet from 'helmet';
import { createServer, IncomingMessage, ServerOptions, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { DOCS_MOUNTS, underDocs } from './docs-paths';
import { HttpSection } from './http.config';
import { admitRequest } from './http-drain';
import { bodyHeadersProblem, readJsonBody } from './json-body';
import { rawProblem } from './problem-details.filter';
import { beginRequest } from './request-context';
import { canonicalTarget } from './request-target';

/** Longest path segment the router passes on, so that the agent_id rule (400), not the router (404), rejects it. */
const MAX_PATH_PARAM_LENGTH = 16 * 1024;

/** Largest request head (request line and headers) a client may send: Node's default, 431 beyond. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** Not in Nest's HttpStatus. */
const REQUEST_HEADER_FIELDS_TOO_LARGE = 431;

/** Node's request as Express hands it on: its parsed body, and the route that matched (once one has). */
type ExpressRequest = IncomingMessage & { body?: unknown; route?: { path?: string } };

/** The route Nest mounts middleware for all routes on, in Express (nestjs-pino's): it is not a handler's. */
const EVERY_PATH = '/{*path}';

/**
 * Swagger UI's Content-Security-Policy (`/docs` and its files): helmet's default, which the page works under, without
 * `upgrade-insecure-requests`. That directive makes a browser fetch the page's scripts over HTTPS when the page came
 * over plain HTTP from any host but localhost: a blank page at http://10.0.4.2:3000/docs. The page's URLs are all
 * relative, so on HTTPS it changes nothing. Applied after helmet, in place of its header.
 */
const docsContentSecurityPolicy = helmet.contentSecurityPolicy({ directives: { upgradeInsecureRequests: null } });

/**
 * helmet's security headers, built once: both adapters apply this one middleware. (@fastify/helmet builds helmet's
 * middleware again on every request, through two more hooks: 1 % of the registry's CPU under heartbeats.)
 */
const securityHeaders = helmet();

/**
 * The HTTP server the app runs on (HTTP_ADAPTER), answering the same on both:
 *
 * - Routing: paths are case-sensitive and exact (`/AGENTS` and `/agents/` are 404s), and a request target is read in
 *   its canonical form (canonicalTarget): `/%61gents` is `/agents`, `GET http://host/agents` is `GET /agents`.
 * - Bodies: read by one function on both (readJsonBody: JSON in UTF-8 up to BODY_LIMIT, gzip, deflate and br
 *   decoded). Create the app with `bodyParser: false`.
 * - What Node's HTTP parser refuses before any route (a request too slow to arrive, 408; a head over 16 KiB, 431;
 *   anything that is not HTTP, 400) is a problem-details answer with `Connection: close` (clientErrorHandler).
 * - Idle kept-alive connections are closed after HTTP_KEEPALIVE_TIMEOUT_MS.
 *
 * Both also send helmet's security headers (a strict Content-Security-Policy, nosniff, frame and referrer policies;
 * the `/docs` page loads only its own scripts and styles, so it works under them, and over plain HTTP too: see
 * docsContentSecurityPolicy), and close connections whose request takes longer than HTTP_HEADERS_TIMEOUT_MS /
 * HTTP_REQUEST_TIMEOUT_MS to arrive (a slow client cannot hold one open).
 */
export function createHttpAdapter(config: HttpSection, hooks: HttpAdapterHooks = {}): AbstractHttpAdapter {
  return config.httpAdapter === 'fastify' ? fastifyAdapter(config, hooks) : expressAdapter(config, hooks);
}

/** What features add below Nest, handed over by the composer (createAppHttpAdapter, src/app.setup.ts). */
export interface HttpAdapterHooks {
  /**
   * Called by the first hook of every request; `route` tells the matched route template once the answer is over
   * (HTTP metrics time requests with it).
   */
  onRequest?: (raw: IncomingMessage, response: ServerResponse, route: () => string | undefined) => void;
  /**
   * Run where the router sends requests to the docs (see DOCS_MOUNTS): answers a refused request itself and returns
   * true (the docs gate of REGISTRY_OPEN_ROUTES).
   */
  docsGate?: (raw: IncomingMessage, response: ServerResponse) => boolean;
}

/** Node's HTTP server settings: how long a client may take to send its request, and how large its headers may be. */
function serverOptions(config: HttpSection): ServerOptions {
  return {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    // How often Node looks for requests past those timeouts (its default, 30 s, would let one run 30 s over).
    connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
    maxHeaderSize: MAX_HEADER_BYTES,
  };
}

/** Express with the server options above (Nest's adapter creates its server with none), routing as Fastify does. */
class ExpressServerAdapter extends ExpressAdapter {
  constructor(private readonly config: HttpSection) {
    super();
    // Express reads these settings when it creates its router, which Nest's constructor has just done (it mounts a
    // hook): set them on the router too, where every route and middleware mounted from now on reads them.
    const express = this.getInstance<Express>();
    express.set('case sensitive routing', true);
    express.set('strict routing', true);
    Object.assign(express.router, { caseSensitive: true, strict: true });
  }

  override initHttpServer(): void {
    const server = createServer(serverOptions(this.config), this.getInstance());
    server.keepAliveTimeout = this.config.keepAliveTimeoutMs;
    server.on('clientError', clientErrorHandler(this.config));
    this.httpServer = server;
  }
}

function expressAdapter(config: HttpSection, hooks: HttpAdapterHooks): ExpressAdapter {
  const adapter = new ExpressServerAdapter(config);
  const express = adapter.getInstance<Express>();
  const gate = hooks.docsGate;
  express.disable('x-powered-by');
  express.use(securityHeaders);
  express.use((request: ExpressRequest, response: ServerResponse, next: () => void) => {
    request.url = canonicalTarget(request.url ?? '/');
    // Express sets `route` on the request when a route matches, the logger's middleware (mounted on every path) too.
    const route = () => (request.route?.path === EVERY_PATH ? undefined : request.route?.path);
    beginRequest(request, response, { body: () => request.body, route });
    hooks.onRequest?.(request, response, route);
    if (!admitRequest(adapter.getHttpServer(), response)) next();
  });
  // Mounted where Swagger serves the docs, so the router decides which requests reach them, as for the routes.
  express.use(DOCS_MOUNTS, (request: IncomingMessage, response: ServerResponse, next: () => void) => {
    if (!gate?.(request, response)) docsContentSecurityPolicy(request, response, next);
  });
  // An ETag is a SHA-1 of every body, for answers that change on every call; Fastify sends none either.
  express.set('etag', false);
  express.use((request: ExpressRequest, response: ServerResponse, next: (error?: unknown) => void) => {
    const refused = bodyHeadersProblem(request);
    const read = refused ? Promise.reject(refused) : readJsonBody(request, request, config.bodyLimitBytes);
    read.then(
      (body) => {
        request.body = body;
        next();
      },
      (error: unknown) => {
        // The rest of the body is left unread (Node discards it): the connection cannot carry another request.
        response.setHeader('Connection', 'close');
        next(error);
      },
    );
  });
  return adapter;
}

/**
 * Whether a Fastify request is for the docs: by the route that matched, and, for the same answers as Express's mount,
 * by its (canonical: rewriteUrl) path when no route did.
 */
function toDocs(request: FastifyRequest): boolean {
  return underDocs(request.routeOptions.url) || underDocs(request.url.split('?')[0]);
}

function fastifyAdapter(config: HttpSection, hooks: HttpAdapterHooks): FastifyAdapter {
  const adapter: FastifyAdapter = new FastifyAdapter({
    http: serverOptions(config),
    // Fastify sets the server's requestTimeout itself, to 0 (none) unless given.
    requestTimeout: config.requestTimeoutMs,
    // readJsonBody applies BODY_LIMIT itself; this covers any parser Fastify would run.
    bodyLimit: config.bodyLimitBytes,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    clientErrorHandler: clientErrorHandler(config),
    rewriteUrl: (request: IncomingMessage) => canonicalTarget(request.url ?? '/'),
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    // Errors the router raises before any route (a path that is not valid percent-encoding) go to the error
    // handler Nest sets at init, and so to the exception filter, as on Express; no hook has run, so the security
    // headers are set here.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
      securityHeaders(request.raw, reply.raw, () => fastify.errorHandler(error, request, reply)),
  });
  const fastify: FastifyInstance = adapter.getInstance();
  const gate = hooks.docsGate;
  fastify.addHook('onRequest', (request, reply, done) => {
    // First, as on Express: every answer carries them, a raw hook's 503 and the docs gate's 401 too.
    securityHeaders(request.raw, reply.raw, (error?: unknown) => {
      if (error) {
        done(error as Error);
        return;
      }
      const route = () => request.routeOptions.url;
      beginRequest(request.raw, reply.raw, { body: () => request.body, route });
      hooks.onRequest?.(request.raw, reply.raw, route);
      if (admitRequest(fastify.server, reply.raw) || (toDocs(request) && gate?.(request.raw, reply.raw))) {
        reply.hijack();
      } else done();
    });
  });
  // In place of the security headers' policy (onRequest).
  fastify.addHook('preHandler', (request, reply, done) => {
    if (toDocs(request)) docsContentSecurityPolicy(request.raw, reply.raw, done);
    else done();
  });
  // Before Fastify checks the Content-Type itself (it would answer a bare 415).
  fastify.addHook('preParsing', (request, reply, payload, done) => {
    const refused = bodyHeadersProblem(request.raw);
    if (refused) void reply.header('Connection', 'close');
    done(refused ?? null, payload);
  });
  fastify.removeAllContentTypeParsers();
  // Every type: readJsonBody reads JSON and leaves the rest, as on Express.
  fastify.addContentTypeParser('*', (request, payload, done) => {
    readJsonBody(request.raw, payload, config.bodyLimitBytes).then(
      (body) => done(null, body),
      (error: Error) => done(error, undefined),
    );
  });
  return adapter;
}

/** What each error of Node's HTTP parser is answered with; anything else it refuses is a 400. */
function clientErrorAnswer(code: string | undefined, config: HttpSection): [number, string] {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [
        HttpStatus.REQUEST_TIMEOUT,
        `The request did not arrive in time: its headers must arrive within ${config.headersTimeoutMs} ms, ` +
          `and all of it within ${config.requestTimeoutMs} ms.`,
      ];
    case 'HPE_HEADER_OVERFLOW':
      return [
        REQUEST_HEADER_FIELDS_TOO_LARGE,
        `The request line and headers exceed the limit of ${MAX_HEADER_BYTES} bytes.`,
      ];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [HttpStatus.PAYLOAD_TOO_LARGE, 'The chunk extensions of the request body are too large.'];
    default:
      return [HttpStatus.BAD_REQUEST, 'The request is not valid HTTP/1.1.'];
  }
}

/**
 * Answers what Node's HTTP parser refuses before either adapter sees a request, the same on both (Node would send a
 * bare status line on Express, Fastify its own JSON): a problem-details answer, then the connection is closed. A
 * connection already answering a request gets nothing written into that answer: it is closed.
 */
function clientErrorHandler(config: HttpSection): (error: NodeJS.ErrnoException, socket: Duplex) => void {
  return (error, socket) => {
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const [status, detail] = clientErrorAnswer(error.code, config);
    // Then closed, as Node closes a connection after an answer that says `Connection: close`.
    socket.end(rawProblem(status, detail), () => socket.destroy());
  };
}
