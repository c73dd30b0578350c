import { memberPath } from './member-path';

describe('memberPath', () => {
  it('writes identifiers with a dot and array indexes in brackets', () => {
    expect(memberPath('agent_card', 'name')).toBe('agent_card.name');
    expect(memberPath('agent_card', '_private$1')).toBe('agent_card._private$1');
    expect(memberPath('agent_card.skills', 2)).toBe('agent_card.skills[2]');
  });

  it('writes any other member name as a quoted JSON string in brackets', () => {
    expect(memberPath('agent_card', 'weird key')).toBe('agent_card["weird key"]');
    expect(memberPath('agent_card', 'x-vendor')).toBe('agent_card["x-vendor"]');
    expect(memberPath('agent_card', '2fa')).toBe('agent_card["2fa"]');
    expect(memberPath('agent_card', '')).toBe('agent_card[""]');
    expect(memberPath('agent_card', '0')).toBe('agent_card["0"]');
    expect(memberPath('agent_card', 'say "hi"')).toBe('agent_card["say \\"hi\\""]');
  });
});
