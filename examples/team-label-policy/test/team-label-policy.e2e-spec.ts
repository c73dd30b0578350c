import request from 'supertest';
import { onEachDatabase } from '../../../test/support/databases';
import { FakeClock } from '../../../test/support/fake-clock';
import { expectProblem } from '../../../test/support/problem';
import { agent, createTestApp, TestApp } from '../../../test/support/test-app';
import { LABELS_MAX } from '../../../src/extending';
import { MISSING_TEAM_DETAIL, NO_ROOM_DETAIL } from '../team-label.policy';
import { TeamLabelPolicyModule } from '../team-label-policy.module';

const KEYS = 'search-fleet:agent:search-secret-0123456789,other-fleet:agent:other-secret-0123456789';
const SEARCH = { Authorization: 'Bearer search-secret-0123456789' };
const OTHER = { Authorization: 'Bearer other-secret-0123456789' };

describe.each(onEachDatabase())('examples/team-label-policy (%s)', (dialect) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect, new FakeClock(), {
      imports: [TeamLabelPolicyModule.forRoot({ teamsByKey: { 'search-fleet': 'search' } })],
    });
  });
  afterAll(() => t.close());

  it('keeps the team label an agent is registered with', async () => {
    const res = await request(t.server)
      .post('/agents/register')
      .set(OTHER)
      .send(agent('labelled', { labels: { team: 'travel', region: 'eu' } }))
      .expect(200);
    expect(res.body.labels).toEqual({ team: 'travel', region: 'eu' });
  });

  it("adds the team of the caller's key to an agent registered without one", async () => {
    const res = await request(t.server)
      .post('/agents/register')
      .set(SEARCH)
      .send(agent('from-key', { labels: { region: 'eu' } }))
      .expect(200);
    expect(res.body.labels).toEqual({ region: 'eu', team: 'search' });
    const stored = await request(t.server).get('/agents?label=team:search').set(SEARCH).expect(200);
    expect(stored.body.map((a: { agent_id: string }) => a.agent_id)).toEqual(['from-key']);
  });

  it('refuses an agent without a team label from a key with no team: 422, nothing stored', async () => {
    const res = await request(t.server).post('/agents/register').set(OTHER).send(agent('teamless'));
    expectProblem(res, 422, MISSING_TEAM_DETAIL);
    await request(t.server).get('/agents/teamless').set(OTHER).expect(404);
  });

  it('refuses, rather than add one label too many, an agent that already has the most labels', async () => {
    const labels = Object.fromEntries(Array.from({ length: LABELS_MAX }, (_, i) => [`l${i}`, 'x']));
    const res = await request(t.server).post('/agents/register').set(SEARCH).send(agent('full', { labels }));
    expectProblem(res, 422, NO_ROOM_DETAIL);
    await request(t.server).get('/agents/full').set(SEARCH).expect(404);
  });

  it('runs on re-registration too, and never on a heartbeat', async () => {
    const res = await request(t.server)
      .post('/agents/register')
      .set(OTHER)
      .send(agent('labelled', { labels: { region: 'us' } }));
    expectProblem(res, 422, MISSING_TEAM_DETAIL);
    await request(t.server).post('/agents/labelled/heartbeat').set(OTHER).expect(200);
    const kept = await request(t.server).get('/agents/labelled').set(OTHER).expect(200);
    expect(kept.body.labels).toEqual({ team: 'travel', region: 'eu' });
  });
});
