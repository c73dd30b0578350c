import { connect } from 'node:net';
import request from 'supertest';
import { onEachDatabase } from './support/databases';
import { listeningUrl } from './support/event-stream';
import { createTestApp, TestApp } from './support/test-app';

/** Sends `text` on a new connection and resolves with all the server wrote back once it closes the connection. */
async function rawExchange(t: TestApp, text: string, timeoutMs = 10_000): Promise<{ reply: string; ms: number }> {
  const { port } = new URL(await listeningUrl(t.server));
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('close', () => resolve({ reply, ms: Date.now() - started }));
    socket.on('error', reject);
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${timeoutMs} ms; it wrote: ${reply}`));
    }, timeoutMs).unref();
  });
}

describe.each(onEachDatabase())('HTTP hardening (HTTP + %s)', (dialect) => {
  let t: TestApp;
  afterEach(() => t.close());

  it("sends helmet's security headers on API answers, errors and /docs, and no X-Powered-By", async () => {
    t = await createTestApp({}, dialect);
    // The last: a path Fastify's router refuses before any route or hook runs.
    for (const path of ['/agents', '/nowhere', '/docs', '/agents/%E0%A4%A']) {
      const res = await request(t.server).get(path);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
  });

  it('allows no cross-origin calls unless CORS_ORIGINS names the origin', async () => {
    t = await createTestApp({}, dialect);
    const closed = await request(t.server).get('/agents').set('Origin', 'https://dash.example.com').expect(200);
    expect(closed.headers['access-control-allow-origin']).toBeUndefined();
    await t.close();

    t = await createTestApp({ CORS_ORIGINS: 'https://dash.example.com' }, dialect);
    const preflight = await request(t.server)
      .options('/agents/register')
      .set('Origin', 'https://dash.example.com')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization, content-type');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://dash.example.com');
    expect(preflight.headers['access-control-allow-headers']).toMatch(/Authorization/);
    const allowed = await request(t.server).get('/agents').set('Origin', 'https://dash.example.com').expect(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://dash.example.com');
    expect(allowed.headers['access-control-expose-headers']).toMatch(/X-Registry-Revision/);
    const other = await request(t.server).get('/agents').set('Origin', 'https://evil.example.com').expect(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('closes a connection whose headers, or whose body, arrive too slowly (408), and refuses huge headers (431)', async () => {
    t = await createTestApp({ HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '2000' }, dialect);
    const slowHeaders = await rawExchange(t, 'GET /agents HTTP/1.1\r\nHost: x\r\n');
    expect(slowHeaders.reply).toMatch(/^HTTP\/1\.1 408/);
    expect(slowHeaders.ms).toBeLessThan(5000);
    const slowBody = await rawExchange(
      t,
      'POST /agents/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"agent_id"',
    );
    expect(slowBody.reply).toMatch(/^HTTP\/1\.1 408/);
    expect(slowBody.ms).toBeLessThan(6000);
    const huge = await request(t.server)
      .get('/agents')
      .set('X-Padding', 'x'.repeat(20 * 1024));
    expect(huge.status).toBe(431);
  });
});
