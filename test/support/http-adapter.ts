import { HttpAdapterName } from '../../src/common/http.config';

declare const globalThis: { HTTP_ADAPTER?: HttpAdapterName };

/**
 * The HTTP adapter this jest project runs the e2e suites on (jest.config.js sets the HTTP_ADAPTER global per
 * project); the test app and the server processes both use it.
 */
export function testHttpAdapter(): HttpAdapterName {
  return globalThis.HTTP_ADAPTER ?? 'express';
}
