import { BeforeApplicationShutdown, HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server, ServerResponse } from 'node:http';
import { APP_CONFIG } from '../config/environment';
import { HttpSection } from './http.config';
import { writeProblem } from './problem-details.filter';

/** How a server is doing with its requests: the answers not yet over, and whether it is shutting down. */
interface ServerState {
  open: Set<ServerResponse>;
  draining: boolean;
}

const states = new WeakMap<Server, ServerState>();

function stateOf(server: Server): ServerState {
  let state = states.get(server);
  if (!state) states.set(server, (state = { open: new Set(), draining: false }));
  return state;
}

/** What a request that arrives while the registry shuts down is told. */
export const SHUTTING_DOWN_DETAIL = 'The registry is shutting down; retry shortly (another replica will answer).';

/**
 * Called by each adapter's first hook on every request (after beginRequest). Keeps count of the answers in progress,
 * so that shutdown can tell them to close their connection; and answers a request that arrives on a kept-alive
 * connection after shutdown began with 503 (Retry-After, `Connection: close`) itself. Returns whether it did.
 */
export function admitRequest(server: Server, response: ServerResponse): boolean {
  const state = stateOf(server);
  if (state.draining) {
    writeProblem(response, HttpStatus.SERVICE_UNAVAILABLE, SHUTTING_DOWN_DETAIL, {
      'Retry-After': '1',
      Connection: 'close',
    });
    return true;
  }
  state.open.add(response);
  response.once('close', () => state.open.delete(response));
  return false;
}

/**
 * The first step of shutdown: stop accepting connections and let the requests in flight finish, before anything
 * else (the cleanup job, the write batcher, the database) is stopped. Provided by the root module, whose shutdown
 * hooks Nest runs first.
 *
 * Answers in progress close their connection when they are done (`Connection: close`), idle kept-alive connections
 * are closed at once, and a request that still arrives on one gets 503 (admitRequest). Requests still open at 3/4 of
 * SHUTDOWN_TIMEOUT have their connections cut, so that the rest of the shutdown fits in it; and on a signal, a process
 * still alive at SHUTDOWN_TIMEOUT exits with status 1.
 */
@Injectable()
export class HttpDrain implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Shutdown');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(APP_CONFIG) private readonly config: HttpSection,
  ) {}

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    const timeoutMs = this.config.shutdownTimeoutMs;
    if (signal) {
      setTimeout(() => {
        this.logger.error(`Still running ${timeoutMs} ms after ${signal} (SHUTDOWN_TIMEOUT): exiting now`);
        process.exit(1);
      }, timeoutMs).unref();
    }
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server?.listening) return;
    this.logger.log(`${signal ?? 'Shutdown'}: no longer accepting connections; finishing requests in flight`);
    const state = stateOf(server);
    state.draining = true;
    for (const response of state.open) {
      if (!response.headersSent) response.setHeader('Connection', 'close');
    }
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const closeIdle = setInterval(() => server.closeIdleConnections(), 50);
    let cut: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      cut = setTimeout(resolve, Math.floor(timeoutMs * 0.75));
    });
    try {
      if ((await Promise.race([closed.then(() => 'closed'), deadline.then(() => 'late')])) === 'late') {
        this.logger.warn(
          `${state.open.size} request(s) still open at 3/4 of SHUTDOWN_TIMEOUT (${timeoutMs} ms): closing their connections`,
        );
        server.closeAllConnections();
        await closed;
      }
    } finally {
      clearInterval(closeIdle);
      clearTimeout(cut);
    }
  }
}
