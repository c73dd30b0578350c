import { createServer } from 'node:net';
import { errorSummary, RegistryError, unreachableReason } from './errors.js';

describe('errorSummary', () => {
  it("is the registry's status and detail for an error it answered", () => {
    const unavailable = new RegistryError(503, {
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'The database is unavailable; retry shortly.',
    });
    expect(errorSummary(unavailable)).toBe('503 The database is unavailable; retry shortly.');
    expect(errorSummary(new RegistryError(502, undefined))).toBe('502 The registry answered 502');
  });

  it("is the network's reason, not fetch's 'fetch failed', when the registry cannot be reached", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const refused: unknown = await fetch(`http://127.0.0.1:${port}/`).catch((error: unknown) => error);
    expect(errorSummary(refused)).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(unreachableReason(refused)).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('says a timeout, and any other error by its message, in one line', () => {
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(errorSummary(timeout)).toBe('no answer in time');
    expect(errorSummary(new Error('boom'))).toBe('boom');
    expect(errorSummary('plain')).toBe('plain');
    expect(unreachableReason(new Error('boom'))).toBeUndefined();
  });
});
