import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getToken } from '@willsoto/nestjs-prometheus';
import { Gauge, register } from 'prom-client';
import { makeSampledGaugeProvider, SAMPLE_TIMEOUT_MS, sampleOnScrape } from './sampled-gauge';

describe('sampled gauges', () => {
  const NAME = 'sampled_gauge_spec_items';
  let gauge: Gauge;
  const scrape = async () => (await register.getSingleMetric(NAME)!.get()).values;

  beforeAll(async () => {
    const provider = makeSampledGaugeProvider({ name: NAME, help: 'Items, by kind.', labelNames: ['kind'] });
    const moduleRef = await Test.createTestingModule({ providers: [provider] }).compile();
    gauge = moduleRef.get<Gauge>(getToken(NAME));
  });
  afterEach(() => jest.useRealTimers());
  afterAll(() => register.removeSingleMetric(NAME));

  it('reads the value from the sampler in force at each scrape, and stops reading once it is withdrawn', async () => {
    let items = 3;
    const stop = sampleOnScrape(NAME, (g) => g.set({ kind: 'a' }, items));
    expect(await scrape()).toEqual([{ labels: { kind: 'a' }, value: 3 }]);
    items = 5;
    expect(await scrape()).toEqual([{ labels: { kind: 'a' }, value: 5 }]);

    // A later app's sampler replaces it; withdrawing the first one then leaves the later one in force.
    const later = sampleOnScrape(NAME, (g) => g.set({ kind: 'a' }, 7));
    stop();
    expect(await scrape()).toEqual([{ labels: { kind: 'a' }, value: 7 }]);
    later();
    items = 9;
    expect(await scrape()).toEqual([{ labels: { kind: 'a' }, value: 7 }]);
    expect(gauge).toBe(register.getSingleMetric(NAME));
  });

  it('leaves the gauge empty, not stale, when the reading fails or hangs', async () => {
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const failing = sampleOnScrape(NAME, () => Promise.reject(new Error('database down')));
    gauge.set({ kind: 'a' }, 1);
    expect(await scrape()).toEqual([]);
    failing();

    jest.useFakeTimers();
    const hanging = sampleOnScrape(NAME, () => new Promise<void>(() => undefined));
    gauge.set({ kind: 'a' }, 1);
    const scraped = scrape();
    await jest.advanceTimersByTimeAsync(SAMPLE_TIMEOUT_MS);
    expect(await scraped).toEqual([]);
    hanging();
    expect(warned.mock.calls.map(([message]) => String(message))).toEqual([
      `${NAME} could not be read: database down`,
      `${NAME} could not be read: no answer within ${SAMPLE_TIMEOUT_MS} ms`,
    ]);
    warned.mockRestore();
  });
});
