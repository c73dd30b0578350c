import { Module } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { collectDefaultMetrics, register } from 'prom-client';
import { MetricsController } from './metrics.controller';

/**
 * GET /metrics through @willsoto/nestjs-prometheus, on prom-client's one registry per process. Metrics are made with
 * its providers (makeGaugeProvider and the like) in the modules that own them. The process metrics are collected
 * once per process: prom-client refuses to register a metric name twice, and the tests build many apps in one.
 */
@Module({
  imports: [PrometheusModule.register({ controller: MetricsController, defaultMetrics: { enabled: false } })],
})
export class MetricsModule {
  constructor() {
    if (!register.getSingleMetric('process_cpu_user_seconds_total')) collectDefaultMetrics();
  }
}
