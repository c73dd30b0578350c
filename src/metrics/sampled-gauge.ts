import { Logger, Provider } from '@nestjs/common';
import { makeGaugeProvider } from '@willsoto/nestjs-prometheus';
import { Gauge, GaugeConfiguration } from 'prom-client';

/** Reads a value into the gauge; called on every scrape. */
export type Sampler = (gauge: Gauge) => Promise<void> | void;

const samplers = new Map<string, Sampler>();
const logger = new Logger('Metrics');

/**
 * A gauge read when /metrics is scraped rather than set as things happen: what a count query or a queue's length
 * says. Its owner supplies the reading with `sampleOnScrape` once it can serve it. prom-client has one registry per
 * process and keeps the first collect function it is given, which would stay bound to the first app a process built
 * (the tests build many): hence the reading is looked up on each scrape. A reading that fails (the database is down)
 * leaves the gauge empty rather than stale, and the scrape goes on.
 */
export function makeSampledGaugeProvider(config: Omit<GaugeConfiguration<string>, 'collect'>): Provider {
  return makeGaugeProvider({
    ...config,
    async collect(this: Gauge) {
      const sampler = samplers.get(config.name);
      if (!sampler) return;
      try {
        await sampler(this);
      } catch (error) {
        this.reset();
        logger.warn(`${config.name} could not be read: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
  });
}

/** Makes `sampler` the gauge's reading; the returned function withdraws it (if no later one replaced it). */
export function sampleOnScrape(name: string, sampler: Sampler): () => void {
  samplers.set(name, sampler);
  return () => {
    if (samplers.get(name) === sampler) samplers.delete(name);
  };
}
