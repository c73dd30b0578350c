import { createHash } from 'node:crypto';
import { RequestValidationException } from '../common/request-validation.pipe';
import { AGENT_ID_MAX_LENGTH, AGENT_ID_PATTERN } from './agent-id';
import { AgentFilter } from './discovery';

/**
 * Paging is by agent_id (keyset): a page starts after the last agent_id of the one before, so agents registered or
 * removed meanwhile never make a page skip or repeat another's agents. The cursor carries that id and a checksum
 * over it and the query's filters: it is opaque to clients, and one that was edited, truncated or made for other
 * filters is refused. It is not a secret: a well-formed cursor only ever says where a page starts.
 */
const VERSION = 'v1';

export function encodeCursor(after: string, scope: string): string {
  return Buffer.from(JSON.stringify([VERSION, after, checksum(after, scope)])).toString('base64url');
}

/** The agent_id a page starts after; a 400 naming `cursor` if the cursor is not one this registry made for `scope`. */
export function decodeCursor(cursor: string, scope: string): string {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  if (
    Array.isArray(decoded) &&
    decoded.length === 3 &&
    decoded[0] === VERSION &&
    typeof decoded[1] === 'string' &&
    decoded[1].length <= AGENT_ID_MAX_LENGTH &&
    // The checksum is no secret: what a hand-made cursor names must be an agent id, as any the registry made.
    AGENT_ID_PATTERN.test(decoded[1]) &&
    decoded[2] === checksum(decoded[1], scope)
  ) {
    return decoded[1];
  }
  const detail = 'cursor is not one this registry made for this query: start again without it';
  throw new RequestValidationException([{ field: 'cursor', in: 'query', detail }]);
}

/** What a cursor is bound to: the filters and include_dead of the query that made it. */
export function cursorScope(filter: AgentFilter, includeDead: boolean): string {
  return JSON.stringify([filter.capabilities, filter.labels, filter.skill, filter.name, filter.q, includeDead]);
}

function checksum(after: string, scope: string): string {
  return createHash('sha256').update(`${VERSION}\n${after}\n${scope}`).digest('base64url').slice(0, 16);
}
