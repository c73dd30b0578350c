import { AgentCardLike, EXAMPLE_AGENT_CARD } from './agent-card';
import { registrationOf } from './persistence/agent-rows';
import { AgentFilter, Discoverable, matchesFilter, NO_FILTER, searchTextOf } from './discovery';

describe('discovery rules: what q= searches', () => {
  const card: AgentCardLike = {
    ...EXAMPLE_AGENT_CARD,
    description: 'Plans MULTI-DAY trips.',
    skills: [
      { id: 'plan-trip', name: 'Plan a Trip', description: 'Builds an Itinerary.', tags: ['Travel', 'family'] },
      { id: 'book', name: 'Book', description: 'Reserves rooms near the venue.', tags: [] },
    ],
  };
  const planner: Discoverable = { agent_name: 'Trip Planner', capabilities: [], labels: {}, agent_card: card };
  const q = (term: string): AgentFilter => ({ ...NO_FILTER, q: term });

  it("holds the name, the card's description, and its skills' names, descriptions and tags, in lower case", () => {
    const text = searchTextOf('Trip Planner', card);
    for (const word of ['trip planner', 'multi-day trips', 'plan a trip', 'builds an itinerary', 'travel', 'family']) {
      expect(text).toContain(word);
    }
    expect(text).toContain('reserves rooms near the venue');
    expect(text).toBe(text.toLowerCase());
  });

  it('keeps the fields apart: a match never spans two of them', () => {
    expect(searchTextOf('Trip Planner', card)).not.toContain('plannerplans');
    expect(matchesFilter(planner, q('itinerary.travel'))).toBe(false);
  });

  it('a watch filter matches a word of a skill description, as the stored search text does', () => {
    expect(matchesFilter(planner, q('itinerary'))).toBe(true);
    expect(matchesFilter(planner, q('near the'))).toBe(true);
    expect(matchesFilter(planner, q('hotel'))).toBe(false);
    // The stored column is the same text: the list's SQL and the watch decide alike.
    const stored = registrationOf({
      agentId: 'p',
      agentName: 'Trip Planner',
      host: 'h',
      port: 1,
      ttlSeconds: 60,
      agentCard: card,
    });
    expect(stored.searchText).toBe(searchTextOf('Trip Planner', card));
    expect(stored.searchText).toContain('itinerary');
  });

  it('an agent without a card is searched by its name alone', () => {
    expect(searchTextOf('Plain Älvsjö Agent', null)).toBe('plain älvsjö agent\n');
    expect(matchesFilter({ ...planner, agent_card: null }, q('itinerary'))).toBe(false);
    expect(matchesFilter({ ...planner, agent_card: null }, q('älvsjö'))).toBe(false);
    expect(matchesFilter({ ...planner, agent_name: 'Plain Älvsjö', agent_card: null }, q('älvsjö'))).toBe(true);
  });
});
