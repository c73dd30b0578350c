import { EventRow, fromEventRow, positionOf } from './event-log';

describe('fromEventRow', () => {
  // As PostgreSQL returns it: bigints as strings.
  const row: EventRow = {
    revision: '7',
    type: 'updated',
    agent_id: 'agent-7',
    at: '1796000000000',
    agent: '{"agent_id":"agent-7","port":9090}',
    previous: '{"agent_id":"agent-7","port":8080}',
  };

  it('keeps the fingerprint clients hold in their positions: SHA-256 over the stored fields, 8 hex digits', () => {
    // Computed outside the registry (sha256 of the fields' JSON): a change here turns every client's position into a 410.
    expect(fromEventRow(row).fingerprint).toBe('bb4034c0');
    expect(positionOf(fromEventRow(row))).toBe('7.bb4034c0');
  });

  it('reads as plain fields, whether spread, serialised or read one by one, and the same each time', () => {
    const event = fromEventRow(row);
    const expected = {
      revision: 7,
      type: 'updated',
      agentId: 'agent-7',
      at: 1796000000000,
      agent: { agent_id: 'agent-7', port: 9090 },
      previous: { agent_id: 'agent-7', port: 8080 },
      fingerprint: 'bb4034c0',
    };
    expect({ ...event }).toEqual(expected);
    expect(JSON.parse(JSON.stringify(event))).toEqual(expected);
    expect(event.agent).toBe(event.agent);
    expect(event.previous).toBe(event.previous);
    // Once everything was read, the row is let go: the values stay.
    expect(event).toEqual(expected);
  });

  it('an event without an agent before or after has none, in any order of reading', () => {
    const registered = fromEventRow({ ...row, type: 'registered', previous: null });
    expect(registered.previous).toBeUndefined();
    expect(registered.fingerprint).toMatch(/^[0-9a-f]{8}$/);
    expect(registered.agent).toEqual({ agent_id: 'agent-7', port: 9090 });
    expect(registered.previous).toBeUndefined();
    const expired = fromEventRow({ ...row, type: 'expired', agent: null });
    expect(expired.fingerprint).toBe(fromEventRow({ ...row, type: 'expired', agent: null }).fingerprint);
    expect(expired.agent).toBeUndefined();
    expect(expired.previous).toEqual({ agent_id: 'agent-7', port: 8080 });
  });
});
