import { BadRequestException, UnsupportedMediaTypeException } from '@nestjs/common';
import { AbstractHttpAdapter } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { Express } from 'express';
import type { FastifyBodyParser, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyHelmet from '@fastify/helmet';
import helmet from 'helmet';
import { createServer, IncomingMessage, ServerOptions, ServerResponse } from 'node:http';
import { DOCS_PATH, docsGate } from '../auth/docs-gate';
import { AppConfig } from '../config/app-config';
import { timeRequest } from '../metrics/http-metrics';
import { admitRequest } from './http-drain';
import { beginRequest } from './request-context';

/** Longest path segment the router passes on, so that the agent_id rule (400), not the router (404), rejects it. */
const MAX_PATH_PARAM_LENGTH = 16 * 1024;

/** Largest request head (request line and headers) a client may send: Node's default, 431 beyond. */
export const MAX_HEADER_BYTES = 16 * 1024;

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

/** Every `application/*+json` type, with or without parameters. */
const STRUCTURED_JSON_TYPE = /^application\/[\w.!#$&^-]+\+json\s*(;|$)/i;

/**
 * The HTTP server the app runs on (HTTP_ADAPTER), with JSON bodies read the same way on both: bodies of
 * `application/json` and `application/*+json` up to BODY_LIMIT (413 beyond), in UTF-8 only (415 otherwise; RFC 8259
 * §8.1), an empty body read as `{}`, and any JSON value passed on, so that the validation pipe answers "must be a
 * JSON object" for arrays and scalars alike. Bodies of other types are not parsed. Create the app with
 * `bodyParser: false`.
 *
 * Both also send helmet's security headers (a strict Content-Security-Policy, nosniff, frame and referrer policies;
 * the `/docs` page loads only its own scripts and styles, so it works under them, and over plain HTTP too: see
 * docsContentSecurityPolicy), and close connections whose request takes longer than HTTP_HEADERS_TIMEOUT_MS /
 * HTTP_REQUEST_TIMEOUT_MS to arrive (a slow client cannot hold one open).
 */
export function createHttpAdapter(config: AppConfig): AbstractHttpAdapter {
  return config.httpAdapter === 'fastify' ? fastifyAdapter(config) : expressAdapter(config);
}

/** Node's HTTP server settings: how long a client may take to send its request, and how large its headers may be. */
function serverOptions(config: AppConfig): ServerOptions {
  return {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    // How often Node looks for requests past those timeouts (its default, 30 s, would let one run 30 s over).
    connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
    maxHeaderSize: MAX_HEADER_BYTES,
  };
}

/** Express with the server options above: Nest's adapter creates its server with none. */
class ExpressServerAdapter extends ExpressAdapter {
  constructor(private readonly serverOptions: ServerOptions) {
    super();
  }

  override initHttpServer(): void {
    this.httpServer = createServer(this.serverOptions, this.getInstance());
  }
}

function expressAdapter(config: AppConfig): ExpressAdapter {
  const adapter = new ExpressServerAdapter(serverOptions(config));
  const express = adapter.getInstance<Express>();
  const gate = docsGate(config.auth);
  express.disable('x-powered-by');
  express.use(helmet());
  express.use((request: ExpressRequest, response: ServerResponse, next: () => void) => {
    // Express sets `route` on the request when a route matches, the logger's middleware (mounted on every path) too.
    const route = () => (request.route?.path === EVERY_PATH ? undefined : request.route?.path);
    beginRequest(request, response, { body: () => request.body, route });
    timeRequest(request, response, route);
    if (admitRequest(adapter.getHttpServer(), response) || gate?.(request, response)) return;
    if (DOCS_PATH.test(request.url ?? '')) docsContentSecurityPolicy(request, response, next);
    else next();
  });
  // An ETag is a SHA-1 of every body, for answers that change on every call; Fastify sends none either.
  express.set('etag', false);
  adapter.useBodyParser('json', false, {
    limit: config.bodyLimitBytes,
    type: ['application/json', 'application/*+json'],
    strict: false,
    // body-parser also decodes UTF-16; verify() runs before it decodes, and its error keeps our status.
    verify: (_request: IncomingMessage, _response: unknown, _body: Buffer, charset: string) => {
      const error = charsetError(charset);
      if (error) throw Object.assign(new Error(error.message), { status: error.getStatus() });
    },
  });
  return adapter;
}

function fastifyAdapter(config: AppConfig): FastifyAdapter {
  const adapter: FastifyAdapter = new FastifyAdapter({
    http: serverOptions(config),
    // Fastify sets the server's requestTimeout itself, to 0 (none) unless given.
    requestTimeout: config.requestTimeoutMs,
    bodyLimit: config.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    // Errors the router raises before any route (a path that is not valid percent-encoding) go to the error
    // handler Nest sets at init, and so to the exception filter, as on Express.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
      fastify.errorHandler(error, request, reply),
  });
  const fastify: FastifyInstance = adapter.getInstance();
  const gate = docsGate(config.auth);
  // Registered now, applied when Fastify gets ready (before it serves anything).
  void fastify.register(fastifyHelmet);
  fastify.addHook('onRequest', (request, reply, done) => {
    const route = () => request.routeOptions.url;
    beginRequest(request.raw, reply.raw, { body: () => request.body, route });
    timeRequest(request.raw, reply.raw, route);
    if (admitRequest(fastify.server, reply.raw) || gate?.(request.raw, reply.raw)) reply.hijack();
    else done();
  });
  // After @fastify/helmet's onRequest hooks, which Fastify runs after this file's.
  fastify.addHook('preHandler', (request, reply, done) => {
    if (DOCS_PATH.test(request.url)) docsContentSecurityPolicy(request.raw, reply.raw, done);
    else done();
  });
  fastify.removeAllContentTypeParsers();
  const parser: FastifyBodyParser<Buffer> = (request, body, done) => {
    try {
      done(null, parseJson(charsetOf(request.headers['content-type']), body));
    } catch (error) {
      done(error as Error, undefined);
    }
  };
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, parser);
  fastify.addContentTypeParser(STRUCTURED_JSON_TYPE, { parseAs: 'buffer' }, parser);
  // A body of any other type is left unread, as Express leaves it: the handler sees none.
  fastify.addContentTypeParser('*', (_request, payload, done) => {
    payload.resume();
    done(null, undefined);
  });
  return adapter;
}

function charsetOf(contentType: string | undefined): string {
  return /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType ?? '')?.[1].toLowerCase() ?? 'utf-8';
}

function charsetError(charset: string): UnsupportedMediaTypeException | undefined {
  return charset === 'utf-8'
    ? undefined
    : new UnsupportedMediaTypeException(`unsupported charset "${charset.toUpperCase()}"`);
}

/** What body-parser does with `strict: false`. */
function parseJson(charset: string, body: Buffer): unknown {
  const error = charsetError(charset);
  if (error) throw error;
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (thrown) {
    throw new BadRequestException((thrown as Error).message);
  }
}
