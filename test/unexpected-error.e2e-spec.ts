import { Logger } from '@nestjs/common';
import request from 'supertest';
import { onEachDatabase } from './support/databases';
import { agent, createTestApp, TestApp } from './support/test-app';

describe.each(onEachDatabase())('Unexpected errors (HTTP + %s)', (dialect) => {
  let t: TestApp;

  beforeEach(async () => {
    t = await createTestApp({}, dialect);
    await request(t.server).post('/agents/register').send(agent('a')).expect(200);
    // Break the database under the running app: every query now fails in a way no client caused.
    await t.orm.em.getConnection().execute('drop table agent_record');
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await t.close();
  });

  it.each([
    ['GET', '/agents'],
    ['GET', '/agents/a'],
    ['POST', '/agents/a/heartbeat'],
    ['DELETE', '/agents/a'],
  ])('%s %s: a generic 500 that leaks nothing, and the cause is logged', async (method, path) => {
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const res = await request(t.server)[method.toLowerCase() as 'get'](path).expect(500);

    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'An unexpected error occurred.',
    });
    expect(JSON.stringify(logged.mock.calls)).toMatch(
      /no such table: agent_record|relation \W*agent_record\W* does not exist/,
    );
  });
});
