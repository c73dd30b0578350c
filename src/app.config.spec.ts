import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keysFileLine, sha256 } from './auth/api-keys';
import { loadConfig } from './app.config';
import { ConfigError } from './config/environment';

describe('loadConfig', () => {
  it('has working defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: '0.0.0.0',
      httpAdapter: 'express',
      database: { dialect: 'sqlite', display: 'sqlite:./data/registry.sqlite', path: './data/registry.sqlite' },
      cleanupCron: '0 * * * * *',
      bodyLimitBytes: 128 * 1024,
      logLevels: ['fatal', 'error', 'warn', 'log'],
      logFormat: 'json',
      migrateOnBoot: true,
      writeBatchMax: 500,
      writeQueueMax: 10_000,
      eventsRetentionMs: 3_600_000,
      eventsKeepaliveMs: 15_000,
      eventsClientBufferBytes: 1024 * 1024,
      eventsPollMs: 250,
      auth: {
        mode: 'protected',
        keys: [],
        openRoutes: ['probes', 'docs'],
        failureLimit: { limit: 20, windowMs: 60_000 },
      },
      corsOrigins: [],
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 72_000,
      rateLimit: { limit: 10_000, windowMs: 1000 },
      heartbeatLimit: { limit: 50, windowMs: 10_000 },
      restartGraceAfterMs: 15_000,
      shutdownTimeoutMs: 10_000,
      expiryGuard: { ratio: 0.5, min: 10, maxMs: 900_000 },
      quotas: { agentsPerKey: 10_000, watchStreamsPerKey: 100, watchStreamsMax: 1000 },
    });
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', HOST: ' ', LOG_LEVEL: '' })).toMatchObject({ port: 3000, host: '0.0.0.0' });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      HTTP_ADAPTER: 'fastify',
      DATABASE_URL: 'sqlite::memory:',
      CLEANUP_CRON: '*/10 * * * * *',
      BODY_LIMIT: '1mb',
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'pretty',
      MIGRATE_ON_BOOT: 'false',
      WRITE_BATCH_MAX: '50',
      WRITE_QUEUE_MAX: '200',
      EVENTS_RETENTION: '15m',
      EVENTS_KEEPALIVE_SECONDS: '2',
      EVENTS_CLIENT_BUFFER: '64kb',
      EVENTS_POLL_MS: '50',
      REGISTRY_AUTH: 'off',
      REGISTRY_OPEN_ROUTES: 'Docs',
      CORS_ORIGINS: 'https://dash.example.com, http://localhost:5173',
      HTTP_HEADERS_TIMEOUT_MS: '5000',
      HTTP_REQUEST_TIMEOUT_MS: '20000',
      HTTP_KEEPALIVE_TIMEOUT_MS: '650000',
      RATE_LIMIT: '600 / 1m',
      HEARTBEAT_LIMIT: 'off',
      AUTH_FAILURE_LIMIT: '5/10m',
      RESTART_GRACE_AFTER: '2m',
      SHUTDOWN_TIMEOUT: '30s',
      EXPIRY_GUARD_RATIO: '0.8',
      EXPIRY_GUARD_MIN: '100',
      EXPIRY_GUARD_MAX_SECONDS: '600',
      AGENT_QUOTA: '500',
      WATCH_STREAMS_PER_KEY: 'OFF',
      WATCH_STREAMS_MAX: ' 20 ',
    });
    expect(config).toEqual({
      port: 8080,
      host: '127.0.0.1',
      httpAdapter: 'fastify',
      database: { dialect: 'sqlite', display: 'sqlite::memory:', path: ':memory:' },
      cleanupCron: '*/10 * * * * *',
      bodyLimitBytes: 1024 * 1024,
      logLevels: ['fatal', 'error', 'warn', 'log', 'debug'],
      logFormat: 'pretty',
      migrateOnBoot: false,
      writeBatchMax: 50,
      writeQueueMax: 200,
      eventsRetentionMs: 15 * 60_000,
      eventsKeepaliveMs: 2000,
      eventsClientBufferBytes: 64 * 1024,
      eventsPollMs: 50,
      auth: { mode: 'off', keys: [], openRoutes: ['docs'], failureLimit: { limit: 5, windowMs: 600_000 } },
      corsOrigins: ['https://dash.example.com', 'http://localhost:5173'],
      headersTimeoutMs: 5000,
      requestTimeoutMs: 20_000,
      keepAliveTimeoutMs: 650_000,
      rateLimit: { limit: 600, windowMs: 60_000 },
      heartbeatLimit: undefined,
      restartGraceAfterMs: 120_000,
      shutdownTimeoutMs: 30_000,
      expiryGuard: { ratio: 0.8, min: 100, maxMs: 600_000 },
      quotas: { agentsPerKey: 500, watchStreamsPerKey: undefined, watchStreamsMax: 20 },
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
    ['3600', 3_600_000],
    ['90s', 90_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['7D', 7 * 86_400_000],
    ['1500ms', 1500],
  ])('EVENTS_RETENTION=%s is %d ms', (value, ms) => {
    expect(loadConfig({ EVENTS_RETENTION: value }).eventsRetentionMs).toBe(ms);
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
    ['HTTP_ADAPTER', 'koa'],
    ['HTTP_ADAPTER', 'Fastify'],
    ['DATABASE_URL', './registry.sqlite'],
    ['DATABASE_URL', 'sqlite:'],
    ['DATABASE_URL', 'mysql://localhost/db'],
    ['DATABASE_URL', 'postgresql://localhost'],
    ['DATABASE_URL', 'postgresql://localhost/a/b'],
    ['DATABASE_URL', 'postgresql://localhost/db?sslmode=prefer'],
    ['DATABASE_URL', 'postgresql://localhost/db?sslmode=maybe'],
    ['DATABASE_URL', 'postgresql://localhost/db?schema=x'],
    ['DATABASE_URL', 'postgresql://localhost/db?sslmode=verify-full&sslrootcert=/no/such/ca.pem'],
    ['DATABASE_URL', 'postgresql://[::1/db'],
    ['DATABASE_POOL_MAX', '0'],
    ['DATABASE_POOL_MAX', '1001'],
    ['DATABASE_POOL_MAX', 'ten'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '-1'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '0'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '99'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '5s'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '3600001'],
    ['DATABASE_CONNECT_TIMEOUT_MS', '0'],
    ['DATABASE_CONNECT_TIMEOUT_MS', '99'],
    ['DATABASE_CONNECT_TIMEOUT_MS', '600001'],
    ['CLEANUP_CRON', 'every minute'],
    ['CLEANUP_CRON', '61 * * * * *'],
    ['BODY_LIMIT', 'lots'],
    ['BODY_LIMIT', '10'],
    ['BODY_LIMIT', '1gb'],
    ['BODY_LIMIT', '100mb'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_FORMAT', 'text'],
    ['MIGRATE_ON_BOOT', 'maybe'],
    ['WRITE_BATCH_MAX', '0'],
    ['WRITE_BATCH_MAX', '5001'],
    ['WRITE_QUEUE_MAX', '0'],
    ['WRITE_QUEUE_MAX', 'lots'],
    ['EVENTS_RETENTION', 'an hour'],
    ['EVENTS_RETENTION', '0'],
    ['EVENTS_RETENTION', '999ms'],
    ['EVENTS_RETENTION', '31d'],
    ['HTTP_KEEPALIVE_TIMEOUT_MS', '999'],
    ['HTTP_KEEPALIVE_TIMEOUT_MS', '3600001'],
    ['HTTP_KEEPALIVE_TIMEOUT_MS', '72s'],
    ['EVENTS_KEEPALIVE_SECONDS', '0'],
    ['EVENTS_KEEPALIVE_SECONDS', '301'],
    ['EVENTS_CLIENT_BUFFER', '512'],
    ['EVENTS_CLIENT_BUFFER', 'big'],
    ['EVENTS_POLL_MS', '9'],
    ['EVENTS_POLL_MS', '60001'],
  ])('%s=%s stops the boot with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration:\\n  ${name}=`));
  });

  describe('DATABASE_URL=postgresql://…', () => {
    it('selects PostgreSQL with the pool and timeout settings', () => {
      const config = loadConfig({
        DATABASE_URL: 'postgresql://registry:s3cr%40t@db.internal:6432/agents',
        DATABASE_POOL_MAX: '25',
        DATABASE_STATEMENT_TIMEOUT_MS: '250',
        DATABASE_CONNECT_TIMEOUT_MS: '2500',
      });
      expect(config.database).toEqual({
        dialect: 'postgresql',
        display: 'postgresql://registry:*****@db.internal:6432/agents',
        host: 'db.internal',
        port: 6432,
        user: 'registry',
        password: 's3cr@t',
        database: 'agents',
        tls: 'disable',
        tlsRootCert: undefined,
        poolMax: 25,
        statementTimeoutMs: 250,
        connectTimeoutMs: 2500,
      });
    });

    it('defaults the port, the user, the pool and the timeouts; accepts postgres://', () => {
      expect(loadConfig({ DATABASE_URL: 'postgres://localhost/agents' }).database).toMatchObject({
        host: 'localhost',
        port: 5432,
        user: 'postgres',
        password: '',
        poolMax: 10,
        statementTimeoutMs: 5000,
        connectTimeoutMs: 5000,
      });
    });

    it.each(['disable', 'require', 'verify-ca', 'verify-full'])('reads sslmode=%s', (mode) => {
      expect(loadConfig({ DATABASE_URL: `postgresql://h/db?sslmode=${mode}` }).database).toMatchObject({ tls: mode });
    });

    it('reads sslrootcert when the file exists', () => {
      const url = `postgresql://h/db?sslmode=verify-full&sslrootcert=${encodeURIComponent(__filename)}`;
      expect(loadConfig({ DATABASE_URL: url }).database).toMatchObject({ tls: 'verify-full', tlsRootCert: __filename });
    });

    it('never shows the password in an error', () => {
      expect(() => loadConfig({ DATABASE_URL: 'postgresql://u:hunter2@h/db?sslmode=prefer' })).toThrow(
        /^Invalid configuration:\n {2}DATABASE_URL="postgresql:\/\/u:\*\*\*\*\*@h\/db\?sslmode=prefer" has sslmode=prefer: use one of/,
      );
      expect(() => loadConfig({ DATABASE_URL: 'postgresql://u:hunter2@h/db?sslmode=prefer' })).not.toThrow(/hunter2/);
      // An unescaped @ in the password: URL parsers split at the last one.
      expect(() => loadConfig({ DATABASE_URL: 'postgresql://u:hun@ter2@h/db?sslmode=prefer' })).toThrow(
        /DATABASE_URL="postgresql:\/\/u:\*\*\*\*\*@h\/db\?sslmode=prefer"/,
      );
      expect(loadConfig({ DATABASE_URL: 'postgresql://u:hun@ter2@h/db' }).database.display).toBe(
        'postgresql://u:*****@h/db',
      );
    });
  });

  describe('API keys', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'keys-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const keysFile = (text: string) => {
      const path = join(dir, 'keys');
      writeFileSync(path, text);
      return path;
    };

    it('reads a keys file (comments and blank lines skipped) and REGISTRY_API_KEYS together', () => {
      const file = keysFile(
        `# ops\n\n${keysFileLine('ops', 'admin', 'ops-secret-0123456789')}\n  bot agent ${'AB'.repeat(32)}  \n`,
      );
      const { auth } = loadConfig({
        REGISTRY_API_KEYS_FILE: file,
        REGISTRY_API_KEYS: 'dev:reader:dev-secret-0123456789',
      });
      expect(auth.mode).toBe('keys');
      expect(auth.keys.map((key) => [key.name, key.role])).toEqual([
        ['ops', 'admin'],
        ['bot', 'agent'],
        ['dev', 'reader'],
      ]);
      expect(auth.keys[0].sha256).toEqual(sha256('ops-secret-0123456789'));
      expect(auth.keys[2].sha256).toEqual(sha256('dev-secret-0123456789'));
    });

    it('refuses a keys file with any malformed line, naming every one, and never echoes a secret', () => {
      const file = keysFile(
        [
          keysFileLine('ok', 'admin', 'ok-secret-0123456789'),
          'two fields',
          `bad name! reader ${'0'.repeat(64)}`,
          `x owner ${'0'.repeat(64)}`,
          'y reader 1234',
        ].join('\n'),
      );
      expect(() => loadConfig({ REGISTRY_API_KEYS_FILE: file })).toThrow(
        new RegExp(
          [
            'line 2: expected "name role sha256-hex", got 2 field',
            'line 3: expected "name role sha256-hex", got 4 field',
            'line 4: the role must be one of reader, agent, admin',
            'line 5: the hash must be 64 hex digits',
          ].join('.*'),
          's',
        ),
      );
      expect(() => loadConfig({ REGISTRY_API_KEYS: 'dev:reader:short' })).toThrow(
        /REGISTRY_API_KEYS: entry 1: the secret must be at least 16 characters/,
      );
      expect(() => loadConfig({ REGISTRY_API_KEYS: 'dev:reader:short' })).not.toThrow(/short/);
      expect(() => loadConfig({ REGISTRY_API_KEYS_FILE: join(dir, 'missing') })).toThrow(/cannot be read/);
    });

    it('refuses a name or a secret used twice, and keys with REGISTRY_AUTH=off', () => {
      expect(() =>
        loadConfig({ REGISTRY_API_KEYS: 'a:reader:secret-one-0123456789,a:admin:secret-two-0123456789' }),
      ).toThrow(/the key name "a" is used twice/);
      expect(() =>
        loadConfig({ REGISTRY_API_KEYS: 'a:reader:same-secret-0123456789,b:admin:same-secret-0123456789' }),
      ).toThrow(/the key "b" has the same secret as another key/);
      expect(() => loadConfig({ REGISTRY_AUTH: 'off', REGISTRY_API_KEYS: 'a:reader:secret-one-0123456789' })).toThrow(
        /REGISTRY_AUTH=off serves everyone/,
      );
      expect(loadConfig({ REGISTRY_AUTH: 'off' }).auth).toEqual({
        mode: 'off',
        keys: [],
        openRoutes: ['probes', 'docs'],
        failureLimit: { limit: 20, windowMs: 60_000 },
      });
      expect(() => loadConfig({ REGISTRY_AUTH: 'maybe' })).toThrow(/REGISTRY_AUTH="maybe" must be on or off/);
    });

    it("reads a key's own agent quota from the keys file; old three-field lines keep working", () => {
      const hash = sha256('fleet-secret-0123456789').toString('hex');
      const file = keysFile(
        [
          `fleet agent ${hash} agents=25`,
          `big agent ${'ab'.repeat(32)} agents=off`,
          `old reader ${'cd'.repeat(32)}`,
        ].join('\n'),
      );
      expect(loadConfig({ REGISTRY_API_KEYS_FILE: file }).auth.keys).toEqual([
        { name: 'fleet', role: 'agent', sha256: Buffer.from(hash, 'hex'), agentQuota: 25 },
        { name: 'big', role: 'agent', sha256: Buffer.from('ab'.repeat(32), 'hex'), agentQuota: 'off' },
        { name: 'old', role: 'reader', sha256: Buffer.from('cd'.repeat(32), 'hex') },
      ]);
      const bad = keysFile(
        [
          `a agent ${hash} agents=0`,
          `b agent ${'ab'.repeat(32)} agents=lots`,
          `c agent ${'cd'.repeat(32)} quota=5`,
        ].join('\n'),
      );
      expect(() => loadConfig({ REGISTRY_API_KEYS_FILE: bad })).toThrow(
        new RegExp(
          [
            'line 1: the fourth field must be agents=N \\(N from 1 to 100000000\\) or agents=off',
            'line 2: the fourth field must be agents=N',
            'line 3: expected "name role sha256-hex", got 4 field',
          ].join('.*'),
          's',
        ),
      );
    });
  });

  it('refuses CORS origins with a path or no scheme, and a request timeout shorter than the headers timeout', () => {
    expect(() => loadConfig({ CORS_ORIGINS: 'dash.example.com' })).toThrow(/"dash.example.com" is not an origin/);
    expect(() => loadConfig({ CORS_ORIGINS: 'https://a.example/app' })).toThrow(/is not an origin/);
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '10000' })).toThrow(
      /HTTP_REQUEST_TIMEOUT_MS must not be shorter than HTTP_HEADERS_TIMEOUT_MS/,
    );
  });

  it('refuses rate limits that are not N/duration or off, or allow nothing', () => {
    expect(() => loadConfig({ RATE_LIMIT: '100' })).toThrow(
      /RATE_LIMIT="100" must be a number of requests per duration/,
    );
    expect(() => loadConfig({ HEARTBEAT_LIMIT: '0/1s' })).toThrow(/HEARTBEAT_LIMIT="0\/1s" must allow at least 1/);
    expect(() => loadConfig({ RATE_LIMIT: '5/2h' })).toThrow(/window of 100ms to 1h/);
  });

  it('AUTH_FAILURE_LIMIT: 20 failed authentications a minute per client address by default, N/duration, or off', () => {
    expect(loadConfig({}).auth.failureLimit).toEqual({ limit: 20, windowMs: 60_000 });
    expect(loadConfig({ AUTH_FAILURE_LIMIT: '100 / 1h' }).auth.failureLimit).toEqual({
      limit: 100,
      windowMs: 3_600_000,
    });
    expect(loadConfig({ AUTH_FAILURE_LIMIT: 'OFF' }).auth.failureLimit).toBeUndefined();
    expect(() => loadConfig({ AUTH_FAILURE_LIMIT: '20' })).toThrow(
      /AUTH_FAILURE_LIMIT="20" must be a number of requests per duration, such as 100\/1s or 10\/10s, or off/,
    );
    expect(() => loadConfig({ AUTH_FAILURE_LIMIT: '0/1m' })).toThrow(
      /AUTH_FAILURE_LIMIT="0\/1m" must allow at least 1/,
    );
    expect(() => loadConfig({ AUTH_FAILURE_LIMIT: '20/2h' })).toThrow(/AUTH_FAILURE_LIMIT="20\/2h" must allow/);
  });

  it.each([
    ['none', []],
    ['probes', ['probes']],
    [' docs , PROBES ', ['probes', 'docs']],
  ])('REGISTRY_OPEN_ROUTES=%j opens %j', (value, routes) => {
    expect(loadConfig({ REGISTRY_OPEN_ROUTES: value }).auth.openRoutes).toEqual(routes);
  });

  it('refuses open routes it does not know, and a shutdown timeout out of 1s to 10m', () => {
    expect(() => loadConfig({ REGISTRY_OPEN_ROUTES: 'docs,agents' })).toThrow(
      /REGISTRY_OPEN_ROUTES="docs,agents" must be none, or a comma-separated list of probes, docs/,
    );
    expect(() => loadConfig({ REGISTRY_OPEN_ROUTES: 'none,docs' })).toThrow(/REGISTRY_OPEN_ROUTES/);
    expect(() => loadConfig({ SHUTDOWN_TIMEOUT: '500ms' })).toThrow(
      /SHUTDOWN_TIMEOUT="500ms" must be between 1s and 10m/,
    );
    expect(() => loadConfig({ SHUTDOWN_TIMEOUT: '1h' })).toThrow(/must be between 1s and 10m/);
    expect(() => loadConfig({ SHUTDOWN_TIMEOUT: 'soon' })).toThrow(/SHUTDOWN_TIMEOUT="soon" must be a duration/);
    expect(loadConfig({ SHUTDOWN_TIMEOUT: '1500ms' }).shutdownTimeoutMs).toBe(1500);
  });

  it('takes the quotas as counts or off, and refuses anything else naming the variable', () => {
    expect(loadConfig({ AGENT_QUOTA: 'off', WATCH_STREAMS_MAX: '1' }).quotas).toEqual({
      agentsPerKey: undefined,
      watchStreamsPerKey: 100,
      watchStreamsMax: 1,
    });
    expect(() => loadConfig({ AGENT_QUOTA: '0' })).toThrow(
      /AGENT_QUOTA="0" must be a number of agents between 1 and 100000000, or off/,
    );
    expect(() => loadConfig({ AGENT_QUOTA: '-5' })).toThrow(/AGENT_QUOTA="-5" must be a number of agents/);
    expect(() => loadConfig({ WATCH_STREAMS_PER_KEY: 'many' })).toThrow(
      /WATCH_STREAMS_PER_KEY="many" must be a number of event streams between 1 and 100000000, or off/,
    );
    expect(() => loadConfig({ WATCH_STREAMS_MAX: '100000001' })).toThrow(/WATCH_STREAMS_MAX="100000001" must be/);
    expect(() => loadConfig({ WATCH_STREAMS_MAX: '1e3' })).toThrow(/WATCH_STREAMS_MAX="1e3" must be/);
  });

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'y' })).toThrow(/PORT=.*\n.*LOG_LEVEL=/s);
  });
});

describe('CLEANUP_CRON against the mass-expiry guard', () => {
  it('refuses a schedule whose runs can be further apart than EXPIRY_GUARD_MAX_SECONDS, naming both', () => {
    expect(() => loadConfig({ CLEANUP_CRON: '0 0 * * * *' })).toThrow(
      /CLEANUP_CRON="0 0 \* \* \* \*" runs as much as 3600 s apart, longer than EXPIRY_GUARD_MAX_SECONDS \(900\)/,
    );
    // Weekdays at 09:30: three days apart over a weekend.
    expect(() => loadConfig({ CLEANUP_CRON: '0 30 9 * * 1-5', EXPIRY_GUARD_MAX_SECONDS: '86400' })).toThrow(
      /runs as much as 72 h apart, longer than EXPIRY_GUARD_MAX_SECONDS \(86400\)/,
    );
    expect(() => loadConfig({ CLEANUP_CRON: '0 0 0 1 1 *' })).toThrow(/CLEANUP_CRON=/);
  });

  it('accepts one that runs often enough, any schedule when the guard is off, and off', () => {
    expect(loadConfig({ CLEANUP_CRON: '0 */15 * * * *' }).cleanupCron).toBe('0 */15 * * * *');
    expect(loadConfig({ CLEANUP_CRON: '0 0 * * * *', EXPIRY_GUARD_MAX_SECONDS: '3600' }).cleanupCron).toBe(
      '0 0 * * * *',
    );
    expect(loadConfig({ CLEANUP_CRON: '0 0 0 1 1 *', EXPIRY_GUARD_RATIO: '1' }).cleanupCron).toBe('0 0 0 1 1 *');
    expect(loadConfig({ CLEANUP_CRON: 'off' }).cleanupCron).toBeUndefined();
  });
});
