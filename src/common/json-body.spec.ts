import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { bodyHeadersProblem, parseMediaType, readJsonBody } from './json-body';

describe('parseMediaType', () => {
  it.each([
    ['application/json', 'application', 'json', {}],
    ['Application/JSON; Charset=UTF-8', 'application', 'json', { charset: 'UTF-8' }],
    ['application/json;charset="utf-8" ; ;x=1', 'application', 'json', { charset: 'utf-8', x: '1' }],
    ['text/plain; a="q\\"uo;ted"', 'text', 'plain', { a: 'q"uo;ted' }],
    ['application/json;', 'application', 'json', {}],
  ])('%s', (value, type, subtype, parameters) => {
    expect(parseMediaType(value)).toEqual({ type, subtype, parameters: new Map(Object.entries(parameters)) });
  });

  it.each([
    '',
    'json',
    'application/',
    '/json',
    'application/json; charset="',
    'application/json; charset',
    'a/b c',
    'a/b; x=1 y',
  ])('%j is not a media type', (value) => {
    expect(parseMediaType(value)).toBeUndefined();
  });
});

describe('bodyHeadersProblem', () => {
  it('refuses a Content-Type that is not a media type, except on methods without a body', () => {
    expect(bodyHeadersProblem({ method: 'POST', headers: { 'content-type': 'json' } })?.getStatus()).toBe(400);
    expect(bodyHeadersProblem({ method: 'GET', headers: { 'content-type': 'json' } })).toBeUndefined();
    expect(bodyHeadersProblem({ method: 'POST', headers: {} })).toBeUndefined();
  });
});

describe('readJsonBody', () => {
  const read = (headers: Record<string, string>, body: Buffer | string, limit = 1024) => {
    const stream = new PassThrough();
    stream.end(body);
    return readJsonBody({ method: 'POST', headers }, stream, limit);
  };
  const json = { 'content-type': 'application/json' };

  it('reads JSON, also with a byte order mark, gzipped, or empty', async () => {
    await expect(read(json, '{"a":1}')).resolves.toEqual({ a: 1 });
    await expect(read(json, '\ufeff[1]')).resolves.toEqual([1]);
    await expect(read({ ...json, 'content-encoding': 'GZIP' }, gzipSync('"x"'))).resolves.toBe('x');
    await expect(read({ 'content-type': 'application/vnd.x+json' }, '')).resolves.toEqual({});
  });

  it('leaves bodies of other types unread', async () => {
    await expect(read({ 'content-type': 'text/plain' }, '{"a":1}')).resolves.toBeUndefined();
    await expect(read({}, '{"a":1}')).resolves.toBeUndefined();
  });

  it('counts the limit as sent and as decoded', async () => {
    await expect(read(json, 'x'.repeat(1025))).rejects.toMatchObject({ status: 413 });
    await expect(read({ ...json, 'content-length': '2000' }, '{}')).rejects.toMatchObject({ status: 413 });
    const bomb = gzipSync(JSON.stringify('a'.repeat(1_000_000)));
    expect(bomb.length).toBeLessThan(1024);
    await expect(read({ ...json, 'content-encoding': 'gzip' }, bomb)).rejects.toMatchObject({ status: 413 });
  });

  it('refuses other charsets and codings (415), and bodies that do not decode (400)', async () => {
    await expect(read({ 'content-type': 'application/json; charset=utf-16' }, '{}')).rejects.toMatchObject({
      status: 415,
      message: 'unsupported charset "UTF-16"',
    });
    await expect(read({ ...json, 'content-encoding': 'zstd' }, '{}')).rejects.toMatchObject({ status: 415 });
    await expect(read({ ...json, 'content-encoding': 'deflate' }, '{}')).rejects.toMatchObject({ status: 400 });
    await expect(read(json, '{')).rejects.toMatchObject({ status: 400 });
  });
});
