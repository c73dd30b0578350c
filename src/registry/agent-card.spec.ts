import {
  AGENT_CARD_MAX_BYTES,
  AGENT_CARD_MAX_PROBLEMS,
  AgentCardLike,
  EXAMPLE_AGENT_CARD,
  SKILL_TERM_MAX_LENGTH,
  agentCardProblems,
  skillTerms,
} from './agent-card';

type Json = Record<string, unknown>;

const SKILL = EXAMPLE_AGENT_CARD.skills[0];
const INTERFACE = { url: 'http://10.0.4.17:8080/a2a', protocolBinding: 'JSONRPC', protocolVersion: '1.0' };

/** A fresh valid A2A 1.0 card with some members replaced, so a test breaks one thing and shares nothing. */
const v1Card = (members: Json = {}): Json => ({ ...structuredClone(EXAMPLE_AGENT_CARD), ...members });
const withSkills = (...skills: unknown[]): Json => v1Card({ skills });
const withInterfaces = (...supportedInterfaces: unknown[]): Json => v1Card({ supportedInterfaces });

/** A valid A2A 0.3 card: a top-level url, and the protocol version on the card rather than on an interface. */
const v03Card = (members: Json = {}): Json => ({
  protocolVersion: '0.3.0',
  name: 'Summarizer',
  description: '',
  url: 'http://10.0.4.18:9000/a2a/v1',
  preferredTransport: 'JSONRPC',
  additionalInterfaces: [{ url: 'http://10.0.4.18:9001', transport: 'GRPC' }],
  version: '0.3.1',
  capabilities: {},
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 'summarize', name: 'Summarize', description: '', tags: [] }],
  ...members,
});

describe('agentCardProblems', () => {
  it('accepts the A2A 1.0 example card', () => {
    expect(agentCardProblems(EXAMPLE_AGENT_CARD)).toEqual([]);
  });

  it('accepts an A2A 0.3 card', () => {
    expect(agentCardProblems(v03Card())).toEqual([]);
  });

  it('accepts a card carrying both supportedInterfaces and url, and a card with no skills', () => {
    expect(agentCardProblems(v1Card({ url: 'http://10.0.4.17:8080/a2a' }))).toEqual([]);
    expect(agentCardProblems(withSkills())).toEqual([]);
  });

  it('accepts unknown members at any depth and leaves the card untouched', () => {
    const card = v1Card({
      'x-vendor': { nested: [1, null, 'a'] },
      skills: [{ ...SKILL, examples: ['plan 3 days in Rome'] }],
      supportedInterfaces: [{ ...INTERFACE, tenant: 'acme' }],
    });
    const before = structuredClone(card);
    expect(agentCardProblems(card)).toEqual([]);
    expect(card).toEqual(before);
  });

  it.each([null, [], [{}], 'card', 42, true])('rejects %j as not a JSON object', (card) => {
    expect(agentCardProblems(card)).toEqual(['agent_card must be a JSON object']);
  });

  it.each(['name', 'version'])('%s must be a non-empty string', (member) => {
    const problem = `agent_card.${member} must be a non-empty string`;
    for (const value of [undefined, '', 7, null, ['x']]) {
      expect(agentCardProblems(v1Card({ [member]: value }))).toEqual([problem]);
    }
  });

  it('description must be a string, and may be empty', () => {
    expect(agentCardProblems(v1Card({ description: '' }))).toEqual([]);
    for (const value of [undefined, null, 1, {}]) {
      expect(agentCardProblems(v1Card({ description: value }))).toEqual(['agent_card.description must be a string']);
    }
  });

  it('skills must be an array of objects', () => {
    for (const value of [undefined, null, {}, 'plan-trip']) {
      expect(agentCardProblems(v1Card({ skills: value }))).toEqual(['agent_card.skills must be an array']);
    }
    expect(agentCardProblems(withSkills(SKILL, 'plan-trip', null, []))).toEqual([
      'agent_card.skills[1] must be an object',
      'agent_card.skills[2] must be an object',
      'agent_card.skills[3] must be an object',
    ]);
  });

  it('a skill needs a non-empty id and name, a string description and tags', () => {
    const card = withSkills(
      SKILL,
      { id: '', name: 'Book', description: '', tags: [] },
      { id: 'book', description: 1, tags: [] },
      { id: 'pay', name: 'Pay', description: 'Pays.', tags: 'money' },
      { id: 'refund', name: 'Refund', description: 'Refunds.' },
    );
    expect(agentCardProblems(card)).toEqual([
      'agent_card.skills[1].id must be a non-empty string',
      'agent_card.skills[2].name must be a non-empty string',
      'agent_card.skills[2].description must be a string',
      'agent_card.skills[3].tags must be an array of strings',
      'agent_card.skills[4].tags must be an array of strings',
    ]);
  });

  it('names each tag that is not a string', () => {
    expect(agentCardProblems(withSkills({ ...SKILL, tags: ['travel', 3, 'planning', null, ''] }))).toEqual([
      'agent_card.skills[0].tags[1] must be a string',
      'agent_card.skills[0].tags[3] must be a string',
    ]);
  });

  it('supportedInterfaces, when present, must be a non-empty array', () => {
    for (const value of [[], null, {}, 'http://10.0.4.17:8080/a2a']) {
      expect(agentCardProblems(v1Card({ supportedInterfaces: value }))).toEqual([
        'agent_card.supportedInterfaces must be a non-empty array',
      ]);
    }
  });

  it('each interface needs a non-empty url; protocolBinding and protocolVersion are optional strings', () => {
    const card = withInterfaces(
      INTERFACE,
      { url: 'http://10.0.4.17:8081' },
      'http://10.0.4.17:8082',
      { protocolBinding: 'GRPC' },
      { url: '', protocolBinding: 'GRPC', protocolVersion: '1.0' },
      { url: 'http://10.0.4.17:8083', protocolBinding: 1, protocolVersion: null },
    );
    expect(agentCardProblems(card)).toEqual([
      'agent_card.supportedInterfaces[2] must be an object',
      'agent_card.supportedInterfaces[3].url must be a non-empty string',
      'agent_card.supportedInterfaces[4].url must be a non-empty string',
      'agent_card.supportedInterfaces[5].protocolBinding must be a string',
      'agent_card.supportedInterfaces[5].protocolVersion must be a string',
    ]);
  });

  it('url, when present, must be a non-empty string', () => {
    for (const value of ['', null, 8080, ['http://10.0.4.18:9000']]) {
      expect(agentCardProblems(v03Card({ url: value }))).toEqual(['agent_card.url must be a non-empty string']);
    }
  });

  it('a card needs supportedInterfaces or url', () => {
    const card = v1Card();
    delete card.supportedInterfaces;
    expect(agentCardProblems(card)).toEqual(['agent_card must have supportedInterfaces (A2A 1.0) or url (A2A 0.3)']);
  });

  it('reports problems in card order: name, description, version, endpoints, skills', () => {
    expect(agentCardProblems({ skills: [{ id: 'a', name: 'A', description: '', tags: [1] }] })).toEqual([
      'agent_card.name must be a non-empty string',
      'agent_card.description must be a string',
      'agent_card.version must be a non-empty string',
      'agent_card must have supportedInterfaces (A2A 1.0) or url (A2A 0.3)',
      'agent_card.skills[0].tags[0] must be a string',
    ]);
  });

  it(`stops at ${AGENT_CARD_MAX_PROBLEMS} problems`, () => {
    const problems = agentCardProblems(withSkills({ ...SKILL, tags: Array.from({ length: 1000 }, () => 0) }));
    expect(AGENT_CARD_MAX_PROBLEMS).toBe(10);
    expect(problems).toHaveLength(10);
    expect(problems[0]).toBe('agent_card.skills[0].tags[0] must be a string');
    expect(problems[9]).toBe('agent_card.skills[0].tags[9] must be a string');

    // The cap spans members: the card-level problems come first, then the walk stops inside skills.
    const broken = { name: 1, skills: Array.from({ length: 100 }, () => null) };
    expect(agentCardProblems(broken)).toEqual([
      'agent_card.name must be a non-empty string',
      'agent_card.description must be a string',
      'agent_card.version must be a non-empty string',
      'agent_card must have supportedInterfaces (A2A 1.0) or url (A2A 0.3)',
      ...Array.from({ length: 6 }, (_, i) => `agent_card.skills[${i}] must be an object`),
    ]);

    // Once full, later members add nothing: the bad url and the missing skills are not reported.
    const interfaces = Array.from({ length: 12 }, () => ({}));
    expect(agentCardProblems(v1Card({ supportedInterfaces: interfaces, url: '', skills: undefined }))).toEqual(
      Array.from({ length: 10 }, (_, i) => `agent_card.supportedInterfaces[${i}].url must be a non-empty string`),
    );
  });

  it(`accepts a card of exactly ${AGENT_CARD_MAX_BYTES} bytes of JSON and rejects one byte more`, () => {
    expect(AGENT_CARD_MAX_BYTES).toBe(65536);
    // Padded with a multi-byte character, so the limit is held in UTF-8 bytes, not in characters.
    const padded = (bytes: number): Json => {
      const card = v1Card({ padding: '' });
      const room = bytes - Buffer.byteLength(JSON.stringify(card), 'utf8');
      card.padding = 'é'.repeat(Math.floor(room / 2)) + 'e'.repeat(room % 2);
      expect(Buffer.byteLength(JSON.stringify(card), 'utf8')).toBe(bytes);
      return card;
    };
    expect(agentCardProblems(padded(AGENT_CARD_MAX_BYTES))).toEqual([]);
    expect(agentCardProblems(padded(AGENT_CARD_MAX_BYTES + 1))).toEqual(['agent_card exceeds 65536 bytes as JSON']);
  });

  it('reports only the size of an oversized card, without walking it', () => {
    const card = v1Card({ name: '', skills: [null], padding: 'x'.repeat(AGENT_CARD_MAX_BYTES) });
    expect(agentCardProblems(card)).toEqual(['agent_card exceeds 65536 bytes as JSON']);
  });

  it('names the bad member without echoing its value', () => {
    const secret = 'sk-live-0123456789';
    const problems = agentCardProblems(
      v1Card({ name: [secret], url: { token: secret }, skills: [{ ...SKILL, tags: [{ secret }] }] }),
    );
    expect(problems).toEqual([
      'agent_card.name must be a non-empty string',
      'agent_card.url must be a non-empty string',
      'agent_card.skills[0].tags[0] must be a string',
    ]);
    expect(problems.join('\n')).not.toContain(secret);
  });
});

describe('skillTerms', () => {
  it('lists the distinct skill ids and tags in first-seen order', () => {
    const card: AgentCardLike = {
      ...EXAMPLE_AGENT_CARD,
      skills: [
        { id: 'plan-trip', name: 'Plan a trip', description: '', tags: ['travel', 'planning', 'travel'] },
        { id: 'book-hotel', name: 'Book a hotel', description: '', tags: ['travel', 'booking', 'plan-trip'] },
        { id: 'planning', name: 'Planning', description: '', tags: [] },
      ],
    };
    expect(skillTerms(card)).toEqual(['plan-trip', 'travel', 'planning', 'book-hotel', 'booking']);
  });

  it('is the example card’s id and tags', () => {
    expect(skillTerms(EXAMPLE_AGENT_CARD)).toEqual(['plan-trip', 'travel', 'planning']);
  });

  it('is empty for no card or a card without skills', () => {
    expect(skillTerms(null)).toEqual([]);
    expect(skillTerms(undefined)).toEqual([]);
    expect(skillTerms({ ...EXAMPLE_AGENT_CARD, skills: [] })).toEqual([]);
  });
});

describe('skill terms', () => {
  it('bounds skill ids and tags, which are indexed', () => {
    const long = 'x'.repeat(SKILL_TERM_MAX_LENGTH + 1);
    const card = { ...EXAMPLE_AGENT_CARD, skills: [{ id: long, name: 'n', description: '', tags: ['ok', long] }] };
    expect(agentCardProblems(card)).toEqual([
      `agent_card.skills[0].id must be at most ${SKILL_TERM_MAX_LENGTH} characters`,
      `agent_card.skills[0].tags[1] must be at most ${SKILL_TERM_MAX_LENGTH} characters`,
    ]);
    const fits = 'x'.repeat(SKILL_TERM_MAX_LENGTH);
    expect(agentCardProblems({ ...card, skills: [{ id: fits, name: 'n', description: '', tags: [fits] }] })).toEqual(
      [],
    );
  });
});

describe('stored text', () => {
  it('refuses NUL characters and unpaired surrogates in the members the registry stores', () => {
    const card = {
      ...EXAMPLE_AGENT_CARD,
      description: 'a\0b',
      skills: [{ id: 's', name: '\uD800', description: '', tags: ['ok', 'x\0'] }],
    };
    expect(agentCardProblems(card)).toEqual([
      'agent_card.description must not contain NUL characters or unpaired surrogates',
      'agent_card.skills[0].name must not contain NUL characters or unpaired surrogates',
      'agent_card.skills[0].tags[1] must not contain NUL characters or unpaired surrogates',
    ]);
  });
});
