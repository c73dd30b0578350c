/**
 * `npm run docs:screenshot`: docs/dashboard.png, the README's picture of the dashboard. Starts the built server on a
 * temp SQLite file, registers a small fleet (one of which lets its lease run out), and photographs the page in
 * Chromium. Re-run it when the dashboard changes.
 */
import { join } from 'node:path';
import { launchChromium } from './browser';
import { ServerProcess } from './server-process';
import { tempDir } from './temp-dir';

const OUTPUT = join(__dirname, '..', '..', 'docs', 'dashboard.png');

const card = (name: string, description: string, skills: [string, string, string[]][]) => ({
  name,
  description,
  version: '1.4.0',
  supportedInterfaces: [{ url: 'http://10.0.4.17:8080/a2a', protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
  skills: skills.map(([id, skillName, tags]) => ({ id, name: skillName, description: `${skillName}.`, tags })),
});

/** A fleet as a team might run it: planners, bookers, a search agent, and a summariser whose lease ran out. */
const FLEET = [
  {
    agent_id: 'booker-eu-1',
    agent_name: 'Flight Booker',
    host: '10.0.4.21',
    port: 8080,
    capabilities: ['travel:booking', 'payments'],
    labels: { region: 'eu-west-1', team: 'travel' },
    agent_card: card('Flight Booker', 'Books flights and holds seats.', [['book-flight', 'Book a flight', ['travel']]]),
  },
  {
    agent_id: 'booker-us-1',
    agent_name: 'Flight Booker',
    host: '10.8.1.5',
    port: 8080,
    capabilities: ['travel:booking', 'payments'],
    labels: { region: 'us-east-1', team: 'travel' },
  },
  {
    agent_id: 'hotel-eu-2',
    agent_name: 'Hotel Finder',
    host: '10.0.4.33',
    port: 8443,
    capabilities: ['travel:lodging'],
    labels: { region: 'eu-west-1', team: 'travel' },
  },
  {
    agent_id: 'planner-7',
    agent_name: 'Trip Planner',
    host: '10.0.4.17',
    port: 8080,
    capabilities: ['planning', 'travel:booking'],
    labels: { region: 'eu-west-1', team: 'travel' },
    agent_card: card('Trip Planner', 'Plans multi-day trips.', [['plan-trip', 'Plan a trip', ['travel', 'itinerary']]]),
  },
  {
    agent_id: 'planner-8',
    agent_name: 'Trip Planner',
    host: '10.0.4.18',
    port: 8080,
    capabilities: ['planning'],
    labels: { region: 'eu-west-1', team: 'travel', canary: 'true' },
  },
  {
    agent_id: 'search-1',
    agent_name: 'Web Search',
    host: 'search.internal',
    port: 9000,
    capabilities: ['search', 'retrieval'],
    labels: { region: 'us-east-1', team: 'platform' },
  },
  {
    agent_id: 'summariser-3',
    agent_name: 'Summariser',
    host: '10.2.0.9',
    port: 7000,
    capabilities: ['summarise'],
    labels: { region: 'us-east-1', team: 'platform' },
    ttl_seconds: 1,
  },
  {
    agent_id: 'translator-2',
    agent_name: 'Translator',
    host: '10.2.0.12',
    port: 7001,
    capabilities: ['translate', 'summarise'],
    labels: { region: 'ap-south-1', team: 'platform' },
  },
];

async function main(): Promise<void> {
  const { dir, remove } = tempDir();
  const server = await ServerProcess.start({ DATABASE_URL: `sqlite:${join(dir, 'registry.sqlite')}` });
  const browser = await launchChromium();
  try {
    for (const agent of FLEET) {
      const res = await server.post('/agents/register', { ttl_seconds: 300, ...agent });
      if (res.status !== 200) throw new Error(`register ${agent.agent_id}: ${res.status} ${await res.text()}`);
    }
    // The summariser's 1 s lease runs out; the others heartbeat at different times, so their ages differ.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    for (const id of ['planner-7', 'booker-eu-1', 'search-1']) await server.post(`/agents/${id}/heartbeat`);
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 }, deviceScaleFactor: 1 });
    await page.goto(`${server.url}/`);
    await page.locator('#agents tbody tr[data-state="expired"]').waitFor();
    await page.locator('#live-state[data-state="live"]').waitFor();
    await page.screenshot({ path: OUTPUT, fullPage: true });
    console.log(`wrote ${OUTPUT}`);
  } finally {
    await browser.close();
    await server.stop();
    remove();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
