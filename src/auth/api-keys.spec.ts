import { ApiKey, findKey, keysFileLine, parseKeysFile, parseKeysVariable } from './api-keys';

describe('findKey', () => {
  const keys = parseKeysVariable('a:reader:first-secret-0123456789,b:admin:second-secret-0123456789') as ApiKey[];

  it('finds the key whose secret it is, and no other', () => {
    expect(findKey(keys, 'second-secret-0123456789')?.name).toBe('b');
    expect(findKey(keys, 'first-secret-0123456789')?.name).toBe('a');
    expect(findKey(keys, 'first-secret-012345678')).toBeUndefined();
    expect(findKey(keys, '')).toBeUndefined();
    expect(findKey([], 'first-secret-0123456789')).toBeUndefined();
  });
});

describe('keysFileLine', () => {
  it('makes a line the keys file reads back', () => {
    const line = keysFileLine('ci', 'agent', 'ci-secret-0123456789');
    expect(line).toMatch(/^ci agent [0-9a-f]{64}$/);
    expect(parseKeysFile(line)).toEqual([expect.objectContaining({ name: 'ci', role: 'agent' })]);
  });
});
