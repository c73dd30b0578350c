import { loadConfig } from '../app.config';
import { rootLogger } from './logging.module';

describe('rootLogger', () => {
  it.each([
    ['fatal', 'fatal'],
    ['error', 'error'],
    ['warn', 'warn'],
    ['log', 'info'],
    ['info', 'info'],
    ['debug', 'debug'],
    ['verbose', 'trace'],
  ])('LOG_LEVEL=%s logs from pino level %s', (LOG_LEVEL, level) => {
    expect(rootLogger(loadConfig({ LOG_LEVEL })).level).toBe(level);
  });
});
