import { canonicalTarget } from './request-target';

describe('canonicalTarget', () => {
  it.each([
    ['/agents', '/agents'],
    ['/%61gents', '/agents'],
    ['/%64OCS%2djson', '/dOCS-json'],
    ['/agents/a%5Fb%7Ec%2Ed%30', '/agents/a_b~c.d0'],
    // Reserved and other characters stay encoded; so does the query, and encoding that is not valid.
    ['/agents/a%2Fb%20c%25', '/agents/a%2Fb%20c%25'],
    ['/agents?q=%61', '/agents?q=%61'],
    ['/agents/%E0%A4%A', '/agents/%E0%A4%A'],
    ['http://registry.example/agents?limit=1', '/agents?limit=1'],
    ['HTTPS://registry.example:3000/%64ocs-json', '/docs-json'],
    ['http://registry.example', '/'],
    ['http://registry.example?x=1', '/?x=1'],
    ['*', '*'],
  ])('%s is %s', (target, canonical) => {
    expect(canonicalTarget(target)).toBe(canonical);
  });
});
