import { existsSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { agent, createTestApp, TestApp, tempDir } from './support/test-app';

describe('Database setup', () => {
  let t: TestApp | undefined;
  let cleanup: (() => void) | undefined;

  afterEach(async () => {
    await t?.close();
    cleanup?.();
    t = cleanup = undefined;
  });

  it('applies the committed migrations at boot and runs SQLite in WAL mode', async () => {
    t = await createTestApp();
    const connection = t.orm.em.getConnection();
    expect(await connection.execute('pragma journal_mode')).toEqual([{ journal_mode: 'wal' }]);
    expect(await connection.execute('pragma synchronous')).toEqual([{ synchronous: 2 }]); // FULL
    const applied: { name: string }[] = await connection.execute('select name from mikro_orm_migrations');
    expect(applied.map((m) => m.name)).toEqual(['Migration20261127014505']);

    await request(t.server).post('/agents/register').send(agent('a')).expect(200);
    expect(existsSync(join(t.dir, 'registry.sqlite-wal'))).toBe(true);
  });

  it('has committed migrations that produce exactly the schema the entities describe', async () => {
    t = await createTestApp();
    expect(await t.orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false })).toBe('');
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
