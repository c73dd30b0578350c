import { STATUS_CODES } from 'node:http';
import type { Response } from 'supertest';

/**
 * Asserts an RFC 9457 problem-details answer: the status, `application/problem+json`, the body's type, title and
 * status, and its detail (exactly, or matching a pattern).
 */
export function expectProblem(res: Response, status: number, detail: string | RegExp): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: 'about:blank', title: STATUS_CODES[status], status });
  expect(res.body.detail).toEqual(typeof detail === 'string' ? detail : expect.stringMatching(detail));
}
