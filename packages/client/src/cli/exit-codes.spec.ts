import { createServer } from 'node:net';
import { RegistryError } from '../index.js';
import { EXIT, failureOf, shown, UsageError } from './exit-codes.js';

const registry = { url: 'http://registry:3000', keyGiven: false };

describe('failureOf', () => {
  it('is a usage error, with its hint', () => {
    expect(failureOf(new UsageError('Unknown command "lsit".', 'Did you mean "list"?'), registry)).toEqual({
      code: EXIT.usage,
      lines: ['Unknown command "lsit".', 'Did you mean "list"?'],
    });
  });

  it("is the registry's detail for an error it answered", () => {
    const notFound = new RegistryError(404, {
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      detail: 'Agent not found: x',
    });
    expect(failureOf(notFound, registry)).toEqual({ code: EXIT.failed, lines: ['Agent not found: x'] });
    expect(failureOf(new RegistryError(502, undefined), registry)).toEqual({
      code: EXIT.failed,
      lines: ['The registry answered 502'],
    });
  });

  it('says how to give a key after a 401, or that the key given was refused', () => {
    const unauthorized = new RegistryError(401, undefined);
    expect(failureOf(unauthorized, registry).lines[1]).toBe(
      'Give a key with --key or the AGENT_REGISTRY_KEY environment variable.',
    );
    expect(failureOf(unauthorized, { ...registry, keyGiven: true }).lines[1]).toBe(
      'The registry did not accept the key given by --key or AGENT_REGISTRY_KEY.',
    );
  });

  it("is 'unreachable' for fetch's own failure to connect, and for a timeout", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const refused: unknown = await fetch(`http://127.0.0.1:${port}/`).catch((error: unknown) => error);
    expect(failureOf(refused, { ...registry, url: `http://127.0.0.1:${port}` })).toEqual({
      code: EXIT.unreachable,
      lines: [`Cannot reach the registry at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`],
    });
    expect(failureOf(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), registry)).toEqual({
      code: EXIT.unreachable,
      lines: ['Cannot reach the registry at http://registry:3000: no answer in time'],
    });
  });

  it('says an answer that is not JSON comes from something other than a registry', () => {
    let notJson: unknown;
    try {
      JSON.parse('<html>');
    } catch (error) {
      notJson = error;
    }
    expect(failureOf(notJson, registry)).toEqual({
      code: EXIT.failed,
      lines: ['The answer from http://registry:3000 is not JSON: is it an agent registry?'],
    });
  });
});

describe('shown', () => {
  it('hides the password of a URL, and leaves any other URL as given', () => {
    expect(shown('http://ops:s3cret@registry:3000')).toBe('http://ops:***@registry:3000/');
    expect(shown('http://registry:3000')).toBe('http://registry:3000');
    expect(shown('not a url')).toBe('not a url');
  });
});
