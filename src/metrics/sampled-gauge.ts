import { Logger, Provider } from '@nestjs/common';
import { makeGaugeProvider } from '@willsoto/nestjs-prometheus';
import { Gauge, GaugeConfiguration } from 'prom-client';

/** Reads a value into the gauge; called on every scrape. */
export type Sampler = (gauge: Gauge) => Promise<void> | void;

const samplers = new Map<string, Sampler>();
/** Longest wait for a reading; Prometheus' default scrape timeout is 10 s. */
export const SAMPLE_TIMEOUT_MS = 2_000;
const logger = new Logger('Metrics');

/**
 * A gauge read when /metrics is scraped rather than set as things happen: what a count query or a queue's length
 * says. Its owner supplies the reading with `sampleOnScrape` once it can serve it. prom-client has one registry per
 * process and keeps the first collect function it is given, which would stay bound to the first app a process built
 * (the tests build many): hence the reading is looked up on each scrape. A reading that fails or takes longer than
 * SAMPLE_TIMEOUT_MS (the database is down, or hangs) is dropped: a labelled gauge is left empty rather than stale,
 * and the scrape goes on with everything else, well within Prometheus' scrape timeout.
 */
export function makeSampledGaugeProvider(config: Omit<GaugeConfiguration<string>, 'collect'>): Provider {
  return makeGaugeProvider({
    ...config,
    async collect(this: Gauge) {
      const sampler = samplers.get(config.name);
      if (!sampler) return;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${SAMPLE_TIMEOUT_MS} ms`)), SAMPLE_TIMEOUT_MS);
      });
      try {
        await Promise.race([sampler(this), timeout]);
      } catch (error) {
        this.reset();
        logger.warn(`${config.name} could not be read: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        clearTimeout(timer);
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
