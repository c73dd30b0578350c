import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { DASHBOARD_CSP } from '../src/dashboard/dashboard.controller';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { chromiumInstalled, launchChromium } from './support/browser';
import { listeningUrl } from './support/event-stream';
import { waitFor } from './support/prometheus';
import { agent, createTestApp, TestApp } from './support/test-app';

const READER_SECRET = 'dashboard-reader-0123456789';
const ADMIN_SECRET = 'dashboard-admin-0123456789';
const KEYS = `viewer:reader:${READER_SECRET},ops:admin:${ADMIN_SECRET}`;
const ADMIN = { Authorization: `Bearer ${ADMIN_SECRET}` };

/** Long leases unless a test says otherwise: the page's clock runs in real time between its reads of the registry's. */
/** An expression evaluated in the page (a string: this program is typed without the DOM's names). */
const inPage = <T = unknown>(page: Page, expression: string) => page.evaluate<T>(expression);

const fleetAgent = (id: string, fields: Record<string, unknown> = {}) => agent(id, { ttl_seconds: 3600, ...fields });

const PLANNER_CARD = {
  name: 'Trip Planner',
  description: 'Plans multi-day trips.',
  version: '1.0.0',
  supportedInterfaces: [{ url: 'http://10.0.4.17:8080/a2a', protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
  skills: [{ id: 'plan-trip', name: 'Plan a trip', description: 'Builds an itinerary.', tags: ['travel'] }],
};

const FLEET = [
  fleetAgent('booker-1', { capabilities: ['booking'], labels: { region: 'us-east-1' } }),
  fleetAgent('planner-7', {
    agent_name: 'Trip Planner',
    capabilities: ['planning', 'booking'],
    labels: { region: 'eu-west-1', team: 'travel' },
    agent_card: PLANNER_CARD,
  }),
  fleetAgent('search-1', { agent_name: 'Web Search', capabilities: ['search'], labels: { region: 'eu-west-1' } }),
];

/**
 * The page served at `/`: the files over HTTP (on both adapters), with or without keys. The browser tests below
 * drive it in Chromium.
 */
describe('Dashboard: GET / and its files', () => {
  let t: TestApp;

  afterEach(() => t.close());

  it('serves the page, its script and its stylesheet with their types, an ETag and no-cache, under the CSP', async () => {
    t = await createTestApp();
    const page = await request(t.server).get('/').expect(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    // Its own policy: no inline script or style, and no upgrade-insecure-requests (the page works over plain HTTP).
    expect(page.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("script-src 'self'");
    expect(DASHBOARD_CSP).not.toContain('upgrade-insecure-requests');
    // Helmet's default stays on every other answer.
    const api = await request(t.server).get('/health/live').expect(200);
    expect(api.headers['content-security-policy']).toContain('upgrade-insecure-requests');
    expect(page.text).toContain('<script type="module" src="/dashboard/app.js"></script>');
    await request(t.server).get('/').set('If-None-Match', page.headers.etag).expect(304);

    for (const [file, type] of [
      ['app.js', 'text/javascript; charset=utf-8'],
      ['api.js', 'text/javascript; charset=utf-8'],
      ['format.js', 'text/javascript; charset=utf-8'],
      // The client package's reader of the event stream, from its ESM build: the page imports it.
      ['event-stream.js', 'text/javascript; charset=utf-8'],
      ['style.css', 'text/css; charset=utf-8'],
    ]) {
      const res = await request(t.server).get(`/dashboard/${file}`).expect(200);
      expect({ file, type: res.headers['content-type'] }).toEqual({ file, type });
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    for (const path of ['/dashboard/nope.js', '/dashboard/index.html', '/dashboard/..%2Fdashboard.module.ts']) {
      expect({ path, status: (await request(t.server).get(path)).status }).toEqual({ path, status: 404 });
    }
    // Not part of the API: the OpenAPI document (and so the generated client) does not change.
    const doc = (await request(t.server).get('/docs-json').expect(200)).body;
    expect(Object.keys(doc.paths).filter((path) => path === '/' || path.startsWith('/dashboard'))).toEqual([]);
  });

  it('serves the page without a key even when every other route needs one (it holds no data)', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, REGISTRY_OPEN_ROUTES: 'none' });
    await request(t.server).get('/').expect(200);
    await request(t.server).get('/dashboard/app.js').expect(200);
    await request(t.server).get('/agents').expect(401);
  });
});

// Debian's chromium: .ci/run installs it, and in CI a missing one fails these tests instead of skipping them.
const withChromium = chromiumInstalled() || process.env.CI ? describe : describe.skip;
if (!chromiumInstalled() && !process.env.CI) {
  console.warn('SKIPPING the dashboard browser tests: /usr/bin/chromium is not installed (apt-get install chromium).');
}

/**
 * The dashboard in a real browser against the real app on a real port. SQLite only: the page sees nothing but the
 * HTTP API, whose answers the other suites check on both databases; a browser per dialect would double the slowest
 * suite for no new behaviour.
 */
withChromium('Dashboard in Chromium', () => {
  let browser: Browser;
  let context: BrowserContext;
  let t: TestApp;
  let url: string;
  /** Uncaught page errors and console errors of this test's page; afterEach fails the test on any not allowed. */
  let problems: string[];
  let allowed: RegExp[];

  beforeAll(async () => {
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  afterEach(async () => {
    await context?.close();
    await t?.close();
    expect(problems.filter((problem) => !allowed.some((pattern) => pattern.test(problem)))).toEqual([]);
  });

  /**
   * A console error the test provokes on purpose: the browser logs every failed request ("Failed to load resource:
   * the server responded with a status of 401") and every refused connection while offline.
   */
  const allowConsole = (...patterns: RegExp[]) => allowed.push(...patterns);

  async function start(env: NodeJS.ProcessEnv = {}, viewport = { width: 1280, height: 800 }): Promise<Page> {
    t = await createTestApp({ EVENTS_POLL_MS: '50', ...env });
    url = await listeningUrl(t.server);
    for (const body of FLEET) await register(body);
    context = await browser.newContext({ viewport });
    const page = await context.newPage();
    problems = [];
    allowed = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    return page;
  }

  /**
   * What a person sees, not what the DOM holds: no banner or message is shown empty (a `display` rule beating
   * `[hidden]` once showed an empty warning bar in every agent's detail).
   */
  async function expectNoEmptyBoxShown(page: Page): Promise<void> {
    const shown = page.locator('.banner, .empty, #filter-error');
    for (let i = 0; i < (await shown.count()); i++) {
      const box = shown.nth(i);
      if (!(await box.isVisible())) continue;
      const id = (await box.getAttribute('id')) ?? (await box.getAttribute('class'));
      expect({ id, text: (await box.innerText()).trim() }).toEqual({ id, text: expect.stringMatching(/\S/) });
    }
  }

  const register = (body: object) => request(t.server).post('/agents/register').set(ADMIN).send(body).expect(200);

  /** The agent ids in the table, in its order. */
  const rowIds = (page: Page) =>
    inPage<string[]>(page, "[...document.querySelectorAll('#agents tbody tr')].map((row) => row.dataset.agentId)");

  /** Waits until the table lists exactly `ids`. */
  async function expectRows(page: Page, ids: string[], timeoutMs = 10_000): Promise<void> {
    let seen: (string | undefined)[] = [];
    await waitFor(
      async () => {
        seen = await rowIds(page);
        return JSON.stringify(seen) === JSON.stringify(ids) ? true : undefined;
      },
      timeoutMs,
      `the rows ${ids.join(', ')}`,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; the table shows ${seen.join(', ') || 'nothing'}`);
    });
  }

  const text = (page: Page, selector: string) => page.locator(selector).innerText();

  const counts = async (page: Page) => ({
    alive: await text(page, '#count-alive'),
    expired: await text(page, '#count-expired'),
    total: await text(page, '#count-total'),
  });

  const stateOf = (page: Page, id: string) =>
    page.getAttribute(`#agents tbody tr[data-agent-id="${id}"]`, 'data-state');

  it('lists the agents with their counts, and narrows them with the search box and the capability and label filters', async () => {
    const page = await start();
    await page.goto(`${url}/`);
    await expectRows(page, ['booker-1', 'planner-7', 'search-1']);
    expect(await counts(page)).toEqual({ alive: '3', expired: '0', total: '3' });
    await expectNoEmptyBoxShown(page);
    expect(await page.locator('#empty').isVisible()).toBe(false);
    const planner = page.locator('#agents tbody tr[data-agent-id="planner-7"]');
    expect(await planner.locator('td[data-label="Name"]').innerText()).toBe('Trip Planner');
    expect(await planner.locator('td[data-label="Address"]').innerText()).toBe('10.0.0.1:8080');
    expect(await planner.locator('td[data-label="Capabilities"] li').allInnerTexts()).toEqual(['planning', 'booking']);
    expect(await planner.locator('td[data-label="Labels"] li').allInnerTexts()).toEqual([
      'region:eu-west-1',
      'team:travel',
    ]);
    expect(await planner.locator('td[data-label="Last heartbeat"]').innerText()).toMatch(/^(just now|\d+s ago)$/);
    expect(await planner.locator('td[data-label="Expires"]').innerText()).toMatch(/^in (59m \d+s|1h)$/);

    // The search box is the API's q: the card's description matches.
    const queries: string[] = [];
    page.on('request', (req) => {
      if (new URL(req.url()).pathname === '/agents') queries.push(new URL(req.url()).search);
    });
    await page.getByLabel('Search').fill('multi-day');
    await expectRows(page, ['planner-7']);
    expect(queries.some((query) => new URLSearchParams(query).get('q') === 'multi-day')).toBe(true);
    await page.getByLabel('Search').fill('');
    await page.getByLabel('Capabilities').fill('booking');
    await page.getByLabel('Capabilities').press('Enter');
    await expectRows(page, ['booker-1', 'planner-7']);
    await page.getByLabel('Labels').fill('region:eu-west-1');
    await page.getByLabel('Labels').press('Enter');
    await expectRows(page, ['planner-7']);
    expect(await counts(page)).toEqual({ alive: '1', expired: '0', total: '1' });
    await page.getByRole('button', { name: 'Clear' }).click();
    await expectRows(page, ['booker-1', 'planner-7', 'search-1']);

    // A filter the API refuses says why, next to the filters.
    allowConsole(/status of 400 \(Bad Request\)/);
    await page.getByLabel('Labels').fill('no-colon');
    await page.getByLabel('Labels').press('Enter');
    await page.locator('#filter-error', { hasText: 'label' }).waitFor();
  });

  it('follows the watch: registrations and updates appear, an expired lease shows, cleanup removes it, all without a reload', async () => {
    const page = await start();
    await page.goto(`${url}/`);
    await expectRows(page, ['booker-1', 'planner-7', 'search-1']);
    await page.locator('#live-state[data-state="live"]').waitFor();
    await inPage(page, "window.marker = 'not reloaded'");

    await register(fleetAgent('analyst-2', { capabilities: ['analysis'], ttl_seconds: 30 }));
    await expectRows(page, ['analyst-2', 'booker-1', 'planner-7', 'search-1']);
    await register(fleetAgent('analyst-2', { capabilities: ['analysis', 'reports'], ttl_seconds: 30 }));
    await waitFor(
      async () =>
        (await page.locator('tr[data-agent-id="analyst-2"] td[data-label="Capabilities"]').innerText()).includes(
          'reports',
        ) || undefined,
      10_000,
      'the update to show',
    );
    expect(await counts(page)).toEqual({ alive: '4', expired: '0', total: '4' });

    // The lease runs out (no event: the page sees it from the registry's clock, read from /health every 5 s)…
    t.clock.advance(31_000);
    await waitFor(async () => ((await stateOf(page, 'analyst-2')) === 'expired' ? true : undefined), 15_000, 'expired');
    expect(await counts(page)).toEqual({ alive: '3', expired: '1', total: '4' });
    expect(await stateOf(page, 'planner-7')).toBe('alive');
    // …and cleanup's `expired` event takes it away, as a deregistration does.
    expect(await t.app.get(CleanupJob).run()).toEqual(['analyst-2']);
    await expectRows(page, ['booker-1', 'planner-7', 'search-1']);
    await request(t.server).delete('/agents/booker-1').set(ADMIN).expect(200);
    await expectRows(page, ['planner-7', 'search-1']);
    expect(await counts(page)).toEqual({ alive: '2', expired: '0', total: '2' });
    expect(await inPage(page, 'window.marker')).toBe('not reloaded');
  });

  it("opens an agent's detail and card from the keyboard, and gives the focus back on close", async () => {
    const page = await start();
    await page.goto(`${url}/`);
    await expectRows(page, ['booker-1', 'planner-7', 'search-1']);
    // Tab from the last filter button reaches the first row's button.
    await page.getByRole('button', { name: 'Clear' }).focus();
    await page.keyboard.press('Tab');
    expect(await inPage(page, 'document.activeElement?.textContent')).toBe('booker-1');
    await page.keyboard.press('Tab');
    expect(await inPage(page, 'document.activeElement?.textContent')).toBe('planner-7');
    await page.keyboard.press('Enter');

    const dialog = page.getByRole('dialog', { name: 'planner-7' });
    await dialog.waitFor();
    await dialog.getByText('Plans multi-day trips.', { exact: true }).waitFor();
    expect(await dialog.innerText()).toContain('Plan a trip');
    // The JSON as registered, in a closed <details>.
    expect(await dialog.locator('pre').textContent()).toContain('"protocolBinding": "JSONRPC"');
    const fields = await dialog.locator('#detail-fields').innerText();
    // Labels read as the label filter takes them.
    expect(fields).toContain('region:eu-west-1');
    expect(fields).toContain('3600s');
    // No warning while the agent is registered: the bar is neither shown nor left as an empty box.
    expect(await dialog.locator('#detail-gone').isVisible()).toBe(false);
    await expectNoEmptyBoxShown(page);

    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(await inPage(page, 'document.activeElement?.textContent')).toBe('planner-7');

    // An agent without a card says so.
    await page.getByRole('button', { name: 'search-1' }).click();
    const search = page.getByRole('dialog', { name: 'search-1' });
    await search.getByText('This agent registered no card.').waitFor();
    expect(await search.locator('#detail-gone').isVisible()).toBe(false);

    // Deregistered while its detail is open: now the warning shows, with its words.
    await request(t.server).delete('/agents/search-1').set(ADMIN).expect(200);
    await search.getByText('This agent is no longer in the registry').waitFor();
    expect(await search.locator('#detail-gone').isVisible()).toBe(true);
    await expectNoEmptyBoxShown(page);
  });

  it('with keys, asks for one (again after a wrong one), sends it as a header only, and keeps it in this tab', async () => {
    const page = await start({ REGISTRY_API_KEYS: KEYS });
    allowConsole(/status of 401 \(Unauthorized\)/);
    const seen: { url: string; authorization?: string }[] = [];
    page.on('request', (req) => seen.push({ url: req.url(), authorization: req.headers().authorization }));
    await page.goto(`${url}/`);

    const dialog = page.getByRole('dialog', { name: 'API key' });
    await dialog.waitFor();
    await dialog.getByLabel('API key').fill('not-a-key-of-this-registry');
    await dialog.getByLabel('API key').press('Enter');
    await dialog.getByText('did not accept that key').waitFor();
    expect(await dialog.isVisible()).toBe(true);
    await dialog.getByLabel('API key').fill(READER_SECRET);
    await dialog.getByRole('button', { name: 'Use this key' }).click();
    await expectRows(page, ['booker-1', 'planner-7', 'search-1']);
    await page.locator('#live-state[data-state="live"]').waitFor();
    expect(await dialog.isVisible()).toBe(false);

    // Live with the key: the watch is read with fetch, which sends the header (EventSource could not).
    await register(fleetAgent('late-1'));
    await expectRows(page, ['booker-1', 'late-1', 'planner-7', 'search-1']);
    const events = seen.filter((req) => new URL(req.url).pathname === '/events');
    expect(events.at(-1)?.authorization).toBe(`Bearer ${READER_SECRET}`);
    expect(seen.every((req) => !req.url.includes(READER_SECRET))).toBe(true);
    expect(page.url()).toBe(`${url}/`);
    expect(await inPage(page, 'Object.values(sessionStorage)')).toEqual([READER_SECRET]);
    expect(await inPage(page, 'Object.keys(localStorage)')).toEqual([]);

    // A reload in the same tab keeps the key: no second prompt.
    await page.reload();
    await expectRows(page, ['booker-1', 'late-1', 'planner-7', 'search-1']);
    expect(await dialog.isVisible()).toBe(false);
  });

  it('shows the degraded states: the mass-expiry guard engaged, and a lost connection that it recovers from', async () => {
    // A guard that engages for one agent of four: alive a minute ago, its lease ran out within the minute.
    const page = await start({ EXPIRY_GUARD_MIN: '1', EXPIRY_GUARD_RATIO: '0.1' });
    await register(fleetAgent('worker-1', { ttl_seconds: 90 }));
    await page.goto(`${url}/`);
    await expectRows(page, ['booker-1', 'planner-7', 'search-1', 'worker-1']);
    t.clock.advance(100_000);
    expect(await t.app.get(CleanupJob).run()).toEqual([]);
    const guard = page.locator('#banner-guard');
    await guard.waitFor({ timeout: 10_000 });
    expect(await guard.innerText()).toMatch(
      /Mass-expiry guard engaged since .*: cleanup keeps the expired agents of the held keys/,
    );
    await waitFor(async () => ((await stateOf(page, 'worker-1')) === 'expired' ? true : undefined), 5_000, 'expired');

    await context.setOffline(true);
    allowConsole(/net::ERR_INTERNET_DISCONNECTED/);
    const lost = page.locator('#banner-connection');
    await lost.waitFor({ timeout: 10_000 });
    expect(await lost.innerText()).toContain('Lost the connection to the registry');
    await register(fleetAgent('while-away'));
    await context.setOffline(false);
    await lost.waitFor({ state: 'detached', timeout: 20_000 });
    await expectRows(page, ['booker-1', 'planner-7', 'search-1', 'while-away', 'worker-1'], 20_000);
  });

  it('shows a banner while the registry cannot reach its database', async () => {
    const page = await start();
    await page.goto(`${url}/`);
    await expectRows(page, ['booker-1', 'planner-7', 'search-1']);
    expect(await page.locator('#banner-database').count()).toBe(0);
    // The database goes away under the running app: /health answers 503, and so does the API.
    allowConsole(/status of 503 \(Service Unavailable\)/);
    await t.orm.close(true);
    const down = page.locator('#banner-database');
    await down.waitFor({ timeout: 15_000 });
    expect(await down.innerText()).toContain('The registry cannot reach its database');
    expect(await down.getAttribute('role')).toBe('alert');
    // What the page showed stays on screen.
    expect(await rowIds(page)).toEqual(['booker-1', 'planner-7', 'search-1']);
  });

  it('fits a phone: at 375 px wide the rows become cards and nothing overflows the page', async () => {
    const page = await start({}, { width: 375, height: 812 });
    await register(
      fleetAgent('a-rather-long-agent-identifier-from-the-batch-fleet-0001', {
        host: 'a-long-host-name.eu-west-1.compute.internal',
        labels: { 'deployment.kubernetes.io/revision': 'very-long-label-value-0123456789' },
      }),
    );
    await page.goto(`${url}/`);
    await expectRows(page, [
      'a-rather-long-agent-identifier-from-the-batch-fleet-0001',
      'booker-1',
      'planner-7',
      'search-1',
    ]);
    const widths = await inPage<Record<string, number>>(
      page,
      `({ page: document.documentElement.scrollWidth, viewport: window.innerWidth,
          table: document.querySelector('#agents').scrollWidth })`,
    );
    expect(widths.page).toBeLessThanOrEqual(widths.viewport);
    expect(widths.table).toBeLessThanOrEqual(widths.viewport);
    expect(await page.locator('#agents thead').boundingBox()).toEqual(expect.objectContaining({ height: 1 }));
  });
});
