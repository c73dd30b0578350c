import { BeforeApplicationShutdown, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server } from 'node:http';

/**
 * Lets shutdown finish promptly. Closing the HTTP server waits for every connection to end, and a keep-alive
 * connection that was busy when the signal came would otherwise stay open until its idle timeout (5 s). While the
 * app shuts down, connections are closed as soon as they fall idle; requests in flight still finish.
 */
@Injectable()
export class HttpDrain implements BeforeApplicationShutdown, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  beforeApplicationShutdown(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server) return;
    this.timer = setInterval(() => server.closeIdleConnections(), 50);
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}
