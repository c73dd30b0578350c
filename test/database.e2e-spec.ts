import { AbstractSqlConnection, EntityManager } from '@mikro-orm/knex';
import { Logger } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { EXAMPLE_AGENT_CARD } from '../src/registry/agent-card';
import { fold } from '../src/registry/discovery';
import { backfillSearchColumns } from '../src/registry/persistence/search-backfill';
import { createTestDatabase, dialects, onEachDatabase, TestDatabase } from './support/databases';
import { openEventStream } from './support/event-stream';
import { FakeClock } from './support/fake-clock';
import { agent, createTestApp, TestApp, tempDir } from './support/test-app';

describe.each(onEachDatabase())('Database setup (%s)', (dialect) => {
  let t: TestApp | undefined;
  let database: TestDatabase | undefined;

  afterEach(async () => {
    await t?.close();
    await database?.drop();
    t = database = undefined;
  });

  it('applies the committed migrations at boot', async () => {
    t = await createTestApp({}, dialect);
    const applied: { name: string }[] = await t.orm.em
      .getConnection()
      .execute('select name from mikro_orm_migrations order by id');
    expect(applied.map((m) => m.name)).toEqual([
      'Migration20261127014505',
      'Migration20261127190000',
      'Migration20261127220000',
      'Migration20261127230000',
      'Migration20261127233000',
      'Migration20261127234500',
      'Migration20261207120000',
      'Migration20261207130000',
      'Migration20261207141500',
    ]);
  });

  it('has committed migrations that produce exactly the schema the entities describe', async () => {
    t = await createTestApp({}, dialect);
    const diff = await t.orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false });
    // PostgreSQL's trigram indexes are the migration's: an entity cannot describe a GIN index with an operator class.
    const trigramIndexes = ['agent_record_search_name_trgm_idx', 'agent_record_search_text_trgm_idx'];
    if (dialect === 'postgresql') {
      const indexes: { indexname: string }[] = await t.orm.em
        .getConnection()
        .execute("select indexname from pg_indexes where tablename = 'agent_record'");
      expect(indexes.map((index) => index.indexname)).toEqual(expect.arrayContaining(trigramIndexes));
    }
    const unexpected = diff
      .split('\n')
      .filter((line) => line.trim() !== '' && !trigramIndexes.some((index) => line === `drop index "${index}";`));
    expect(unexpected).toEqual([]);
  });

  it('indexes the agents registered before the search migration for name= and q=', async () => {
    database = await createTestDatabase(dialect);
    t = await createTestApp({ DATABASE_URL: database.url }, dialect);
    await request(t.server)
      .post('/agents/register')
      .send(agent('old-timer', { agent_name: 'Old Timer' }))
      .expect(200);
    await t.orm.getMigrator().down({ to: 'Migration20261127220000' });
    const applied = await t.orm.getMigrator().getExecutedMigrations();
    expect(applied.map((m) => m.name)).not.toContain('Migration20261127220000');
    await t.close();
    t = await createTestApp({ DATABASE_URL: database.url }, dialect);
    const found = await request(t.server).get('/agents?name=timer&q=old%20t').expect(200);
    expect(found.body.map((a: { agent_id: string }) => a.agent_id)).toEqual(['old-timer']);
  });

  /** A trip planner whose card names "itinerary" only in a skill's description. */
  const CARD = {
    ...EXAMPLE_AGENT_CARD,
    description: 'Plans multi-day trips.',
    skills: [{ id: 'plan-trip', name: 'Plan a trip', description: 'Builds an itinerary.', tags: ['travel'] }],
  };
  /** search_text as versions before Migration20261207120000 stored it: no skill descriptions. */
  const searchTextBefore = (name: string) => fold([name, CARD.description, 'Plan a trip', 'travel'].join('\n'));
  const ids = async (query: string) =>
    (await request(t!.server).get(`/agents${query}`).expect(200)).body.map((a: { agent_id: string }) => a.agent_id);

  it('finds an agent registered before q= searched skill descriptions by a word of one, in lists and watches', async () => {
    database = await createTestDatabase(dialect);
    t = await createTestApp({ DATABASE_URL: database.url }, dialect);
    await request(t.server)
      .post('/agents/register')
      .send(agent('trip-planner', { agent_name: 'Trip Planner', agent_card: CARD }))
      .expect(200);
    // Back to the schema version before, with the agent's text (and, on SQLite, its FTS entry) as it stored them.
    await t.orm.getMigrator().down({ to: 'Migration20261207120000' });
    await t.orm.em
      .getConnection()
      .execute('update agent_record set search_text = ? where agent_id = ?', [
        searchTextBefore('Trip Planner'),
        'trip-planner',
      ]);
    expect(await ids('?q=itinerary')).toEqual([]);
    expect(await ids('?q=plan%20a%20trip')).toEqual(['trip-planner']);
    await t.close();

    const logs = jest.spyOn(Logger.prototype, 'log');
    t = await createTestApp({ DATABASE_URL: database.url }, dialect);
    const logged = logs.mock.calls.map(([message]) => String(message));
    logs.mockRestore();
    expect(logged).toContain('Migration20261207120000 rewrote 1 row(s)');
    expect(await ids('?q=itinerary')).toEqual(['trip-planner']);
    expect(await ids('?q=ITINERARY&name=trip')).toEqual(['trip-planner']);
    // What it searched before, it still does.
    expect(await ids('?q=plan%20a%20trip')).toEqual(['trip-planner']);
    expect(await ids('?q=multi-day')).toEqual(['trip-planner']);
    // A watch decides in memory, from the agent in the event: it agrees with the list.
    const watch = await openEventStream(t.server, '/events?since=0&q=itinerary');
    try {
      expect((await watch.waitForEvents(1)).map((event) => event.data.agent_id)).toEqual(['trip-planner']);
    } finally {
      watch.close();
    }
  });

  it('recomputes search text a chunk per transaction, only where it differs; a second run rewrites nothing', async () => {
    t = await createTestApp({}, dialect);
    const names = ['a-1', 'a-2', 'a-3', 'a-4', 'a-5'];
    for (const id of names) {
      await request(t.server)
        .post('/agents/register')
        .send(agent(id, { agent_card: CARD }))
        .expect(200);
    }
    const connection = t.orm.em.getConnection() as AbstractSqlConnection;
    await connection.execute("update agent_record set search_text = 'stale' where agent_id <> 'a-3'");
    expect(await ids('?q=itinerary')).toEqual(['a-3']);

    const transactions = jest.spyOn(connection, 'transactional');
    const backfill = () => backfillSearchColumns(connection, { lockRows: dialect === 'postgresql', chunk: 2 });
    try {
      expect(await backfill()).toBe(4);
      expect(transactions).toHaveBeenCalledTimes(3);
      expect(await backfill()).toBe(0);
    } finally {
      transactions.mockRestore();
    }
    expect(await ids('?q=itinerary')).toEqual(names);
    expect(await ids('?q=stale')).toEqual([]);
  });

  it("lists agent ids in code point order, whatever the database's collation", async () => {
    // PostgreSQL: a database whose default collation (ICU's root locale) sorts 'a_1' before 'a-1' and 'B' after 'b'.
    database = await createTestDatabase(dialect, "template template0 locale_provider icu icu_locale 'und'");
    t = await createTestApp({ DATABASE_URL: database.url });
    const ids = ['b', 'B', 'a_1', 'a-1', 'a.1', 'A', '0', 'a:1'];
    for (const id of ids) await request(t.server).post('/agents/register').send(agent(id)).expect(200);
    const listed = await request(t.server).get('/agents').expect(200);
    expect(listed.body.map((a: { agent_id: string }) => a.agent_id)).toEqual([...ids].sort());
  });
});

describe('SQLite setup', () => {
  let t: TestApp | undefined;
  let cleanup: (() => void) | undefined;

  afterEach(async () => {
    await t?.close();
    cleanup?.();
    t = cleanup = undefined;
  });

  it('runs SQLite in WAL mode with synchronous=FULL', async () => {
    t = await createTestApp();
    const connection = t.orm.em.getConnection();
    expect(await connection.execute('pragma journal_mode')).toEqual([{ journal_mode: 'wal' }]);
    expect(await connection.execute('pragma synchronous')).toEqual([{ synchronous: 2 }]); // FULL
    await request(t.server).post('/agents/register').send(agent('a')).expect(200);
    expect(existsSync(join(t.dir, 'registry.sqlite-wal'))).toBe(true);
  });

  it('creates the folder of the SQLite file', async () => {
    const { dir, remove } = tempDir();
    cleanup = remove;
    const file = join(dir, 'nested', 'deeper', 'registry.sqlite');
    t = await createTestApp({ DATABASE_URL: `sqlite:${file}` });
    await request(t.server).post('/agents/register').send(agent('a')).expect(200);
    expect(existsSync(file)).toBe(true);
  });

  it('runs on sqlite::memory:', async () => {
    t = await createTestApp({ DATABASE_URL: 'sqlite::memory:' });
    await request(t.server).post('/agents/register').send(agent('a')).expect(200);
    await request(t.server).get('/agents/a').expect(200);
  });

  it('honours BODY_LIMIT', async () => {
    t = await createTestApp({ BODY_LIMIT: '2kb' });
    await request(t.server)
      .post('/agents/register')
      .send(agent('a', { metadata: 'm'.repeat(1500) }))
      .expect(200);
    const res = await request(t.server)
      .post('/agents/register')
      .send(agent('b', { metadata: 'm'.repeat(3000) }))
      .expect(413);
    expect(res.body.detail).toContain('2048 bytes');
  });
});

const pg = dialects().includes('postgresql') ? describe : describe.skip;

pg('PostgreSQL connection settings', () => {
  let database: TestDatabase;
  let t: TestApp | undefined;

  beforeEach(async () => {
    database = await createTestDatabase('postgresql');
  });

  afterEach(async () => {
    await t?.close();
    t = undefined;
    await database.drop();
  });

  const one = async <T>(sql: string): Promise<T> => {
    const rows: T[] = await t!.orm.em.getConnection().execute(sql);
    return rows[0];
  };

  it('applies DATABASE_POOL_MAX, DATABASE_STATEMENT_TIMEOUT_MS and plaintext by default', async () => {
    t = await createTestApp({
      DATABASE_URL: database.url,
      DATABASE_POOL_MAX: '3',
      DATABASE_STATEMENT_TIMEOUT_MS: '1500',
    });
    expect((t.orm.em as EntityManager).getKnex().client.pool.max).toBe(3);
    expect((t.orm.em as EntityManager).getKnex().client.config.pool).toMatchObject({
      min: 0,
      max: 3,
      maxConnectionLifetimeMillis: 600_000,
    });
    expect(await one('show statement_timeout')).toEqual({ statement_timeout: '1500ms' });
    expect(await one('show application_name')).toEqual({ application_name: 'agent-registry' });
    expect(await one('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).toEqual({ ssl: false });
  });

  it('cancels a statement that runs past DATABASE_STATEMENT_TIMEOUT_MS', async () => {
    t = await createTestApp({ DATABASE_URL: database.url, DATABASE_STATEMENT_TIMEOUT_MS: '200' });
    await expect(t.orm.em.getConnection().execute('select pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
  });

  it("warns at boot when the replica's clock differs from the database's", async () => {
    const warned = jest.spyOn(Logger.prototype, 'warn');
    t = await createTestApp({ DATABASE_URL: database.url }, 'postgresql', new FakeClock(new Date(Date.now() - 90_000)));
    const warnings = warned.mock.calls.map(([message]) => String(message));
    await t.close();
    // A clock that keeps real time: a fixed one falls behind the database by however long the boot takes.
    const inSyncClock = new FakeClock();
    jest.spyOn(inSyncClock, 'now').mockImplementation(() => new Date());
    t = await createTestApp({ DATABASE_URL: database.url }, 'postgresql', inSyncClock);
    const inSync = warned.mock.calls.slice(warnings.length).map(([message]) => String(message));
    warned.mockRestore();

    expect(warnings).toContainEqual(expect.stringMatching(/^This replica's clock is 9\d{4} ms behind the database's/));
    expect(inSync.filter((message) => message.includes('clock'))).toEqual([]);
  });

  it('sslmode=require insists on TLS: against a server without it, the boot fails saying so', async () => {
    await expect(createTestApp({ DATABASE_URL: `${database.url}?sslmode=require` })).rejects.toThrow(
      /does not support SSL/,
    );
  });
});
