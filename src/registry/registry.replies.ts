import { HttpStatus, StreamableFile } from '@nestjs/common';
import { AbstractHttpAdapter } from '@nestjs/core';
import { createHash } from 'node:crypto';
import { Principal } from '../auth/auth.guard';
import { seesOwners } from '../auth/ownership';
import { agentFilterOf } from './dto/agent-filter-query.dto';
import { AgentInfo } from './dto/agent-info.dto';
import { ListAgentsQuery } from './dto/list-agents-query.dto';
import { jsonArrayText, streamJsonArray } from './json-array-stream';
import { toAgentJson } from './persistence/agent-rows';
import { POSITION_HEADER, REVISION_HEADER } from './registry-headers';
import { RegistryService } from './registry.service';

/** How the `/agents` routes answer what is more than a DTO: headers, a streamed list, a card with its ETag. */

/**
 * `GET /agents`: with `limit`, one page and its `Link`; without, every agent, sent whole (Content-Length) or, when
 * more than LIST_CHUNK match, streamed as read. Either way with the revision and position headers.
 */
export async function replyWithList(
  registry: RegistryService,
  httpAdapter: AbstractHttpAdapter,
  query: ListAgentsQuery,
  response: unknown,
  caller: Principal | undefined,
): Promise<AgentInfo[] | string | StreamableFile> {
  const listQuery = {
    filter: agentFilterOf(query),
    includeDead: query.include_dead ?? false,
    limit: query.limit,
    cursor: query.cursor,
    withOwner: seesOwners(caller),
  };
  if (query.limit === undefined) {
    const { agents, revision, position, rest } = await registry.listAll(listQuery, toAgentJson);
    httpAdapter.setHeader(response, REVISION_HEADER, String(revision));
    httpAdapter.setHeader(response, POSITION_HEADER, position);
    if (rest) return streamJsonArray(agents, rest);
    httpAdapter.setHeader(response, 'Content-Type', 'application/json; charset=utf-8');
    return jsonArrayText(agents);
  }
  const { agents, revision, position, next } = await registry.list(listQuery);
  httpAdapter.setHeader(response, REVISION_HEADER, String(revision));
  httpAdapter.setHeader(response, POSITION_HEADER, position);
  if (next !== undefined) httpAdapter.setHeader(response, 'Link', `<${nextPageUrl(query, next)}>; rel="next"`);
  return agents;
}

/** `GET /agents/{agent_id}/card`: the card as stored, with its ETag; 304 when `If-None-Match` matches it. */
export async function replyWithCard(
  registry: RegistryService,
  httpAdapter: AbstractHttpAdapter,
  agentId: string,
  ifNoneMatch: string | undefined,
  response: unknown,
): Promise<void> {
  const { json } = await registry.card(agentId);
  const etag = `"${createHash('sha256').update(json).digest('base64url').slice(0, 27)}"`;
  httpAdapter.setHeader(response, 'ETag', etag);
  httpAdapter.setHeader(response, 'Cache-Control', 'no-cache');
  if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag)) {
    httpAdapter.reply(response, undefined, HttpStatus.NOT_MODIFIED);
    return;
  }
  httpAdapter.setHeader(response, 'Content-Type', 'application/json; charset=utf-8');
  httpAdapter.reply(response, json, HttpStatus.OK);
}

/** The same query, starting at `cursor`: a relative reference, so it is right behind any proxy that kept the path. */
function nextPageUrl(query: ListAgentsQuery, cursor: string): string {
  const params = new URLSearchParams();
  for (const capability of query.capability ?? []) params.append('capability', capability);
  for (const label of query.label ?? []) params.append('label', label);
  for (const name of ['skill', 'name', 'q'] as const) {
    const value = query[name];
    if (value !== undefined) params.append(name, value);
  }
  if (query.include_dead) params.append('include_dead', 'true');
  params.append('limit', String(query.limit));
  params.append('cursor', cursor);
  return `/agents?${params.toString()}`;
}

/** If-None-Match (RFC 9110 §13.1.2): `*`, or a list of entity tags compared weakly. */
function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
