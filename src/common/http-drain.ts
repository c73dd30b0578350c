import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server } from 'node:http';

/**
 * The first step of shutdown: stop accepting connections and wait for the requests in flight, before anything
 * else (the cleanup job, the database) is stopped. Provided by the root module, whose shutdown hooks Nest runs
 * first. A keep-alive connection that was busy when the signal came is closed as soon as it falls idle, instead of
 * holding the server open until its idle timeout.
 */
@Injectable()
export class HttpDrain implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Shutdown');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server?.listening) return;
    this.logger.log(`${signal ?? 'Shutdown'}: no longer accepting connections; finishing requests in flight`);
    const closeIdle = setInterval(() => server.closeIdleConnections(), 50);
    try {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    } finally {
      clearInterval(closeIdle);
    }
  }
}
