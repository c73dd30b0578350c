import { ConfigError, loadConfig } from './app-config';

describe('loadConfig', () => {
  it('has working defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: '0.0.0.0',
      database: { url: 'sqlite:./data/registry.sqlite', sqlitePath: './data/registry.sqlite' },
      cleanupCron: '0 * * * * *',
      bodyLimitBytes: 65536,
      logLevels: ['fatal', 'error', 'warn', 'log'],
      migrateOnBoot: true,
    });
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', HOST: ' ', LOG_LEVEL: '' })).toMatchObject({ port: 3000, host: '0.0.0.0' });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      DATABASE_URL: 'sqlite::memory:',
      CLEANUP_CRON: '*/10 * * * * *',
      BODY_LIMIT: '1mb',
      LOG_LEVEL: 'debug',
      MIGRATE_ON_BOOT: 'false',
    });
    expect(config).toEqual({
      port: 8080,
      host: '127.0.0.1',
      database: { url: 'sqlite::memory:', sqlitePath: ':memory:' },
      cleanupCron: '*/10 * * * * *',
      bodyLimitBytes: 1024 * 1024,
      logLevels: ['fatal', 'error', 'warn', 'log', 'debug'],
      migrateOnBoot: false,
    });
  });

  it.each([
    ['65536', 65536],
    ['64kb', 65536],
    ['64KB', 65536],
    ['2mb', 2 * 1024 * 1024],
    ['4096b', 4096],
  ])('BODY_LIMIT=%s is %d bytes', (value, bytes) => {
    expect(loadConfig({ BODY_LIMIT: value }).bodyLimitBytes).toBe(bytes);
  });

  it.each([
    ['fatal', ['fatal']],
    ['warn', ['fatal', 'error', 'warn']],
    ['info', ['fatal', 'error', 'warn', 'log']],
    ['verbose', ['fatal', 'error', 'warn', 'log', 'debug', 'verbose']],
  ])('LOG_LEVEL=%s logs %j', (value, levels) => {
    expect(loadConfig({ LOG_LEVEL: value }).logLevels).toEqual(levels);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['DATABASE_URL', 'postgres://localhost/db'],
    ['DATABASE_URL', './registry.sqlite'],
    ['DATABASE_URL', 'sqlite:'],
    ['CLEANUP_CRON', 'every minute'],
    ['CLEANUP_CRON', '61 * * * * *'],
    ['BODY_LIMIT', 'lots'],
    ['BODY_LIMIT', '10'],
    ['BODY_LIMIT', '1gb'],
    ['BODY_LIMIT', '100mb'],
    ['LOG_LEVEL', 'loud'],
    ['MIGRATE_ON_BOOT', 'maybe'],
  ])('%s=%s stops the boot with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration:\\n  ${name}=`));
  });

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'y' })).toThrow(/PORT=.*\n.*LOG_LEVEL=/s);
  });
});
