import { bigintValue } from '../../database/bigint';
import { AgentCardLike } from '../agent-card';
import { AgentRecord } from './agent-record.entity';
import { searchTextOf, fold } from '../discovery';
import { AgentInfo } from '../dto/agent-info.dto';
import { RegisterAgentRequest } from '../dto/register-agent.dto';
import { DEFAULT_TTL_SECONDS, isAlive } from '../lease';

/**
 * agent_record rows in and out of raw SQL, and as the API shows them. Raw statements select agentColumns, so every
 * read maps its rows the same way on both dialects.
 */

/** A registration as the client sent it; the writer stamps the times when its batch commits. */
export type Registration = Omit<AgentRecord, 'registeredAt' | 'lastHeartbeat' | 'expiresAt'>;

/**
 * agent_record's column of each property: the one list of its columns every raw statement selects, returns or
 * writes through. Typed over every property of the entity, so a property added there must be added here.
 */
const COLUMNS: { [P in keyof Required<AgentRecord>]: string } = {
  agentId: 'agent_id',
  agentName: 'agent_name',
  host: 'host',
  port: 'port',
  ttlSeconds: 'ttl_seconds',
  metadata: 'metadata',
  capabilities: 'capabilities',
  labels: 'labels',
  agentCard: 'agent_card',
  searchName: 'search_name',
  searchText: 'search_text',
  owner: 'owner',
  registeredAt: 'registered_at',
  lastHeartbeat: 'last_heartbeat',
  expiresAt: 'expires_at',
};

const PROPERTIES = Object.keys(COLUMNS) as (keyof AgentRecord)[];

/** The given columns of agent_record under their property names, for a select list or RETURNING (prefix: an alias). */
export function columnsAs(properties: readonly (keyof AgentRecord)[], prefix = ''): string {
  return properties.map((property) => `${prefix}${COLUMNS[property]} as "${property}"`).join(', ');
}

/** Every column of agent_record under its property name (see columnsAs). */
export function agentColumns(prefix = ''): string {
  return columnsAs(PROPERTIES, prefix);
}

/** Every column of agent_record, in one order: an insert's column list (see columnValues). */
export const ALL_COLUMNS = PROPERTIES.map((property) => COLUMNS[property]);

/** A record's values in ALL_COLUMNS' order, null for an absent one. */
export function columnValues(record: AgentRecord): (string | number | null)[] {
  return PROPERTIES.map((property) => record[property] ?? null);
}

/** The columns of the given properties (see COLUMNS). */
export function columnsOf(properties: readonly (keyof AgentRecord)[]): string[] {
  return properties.map((property) => COLUMNS[property]);
}

/** What a re-registration overwrites: every column but the key and `registered_at`, which keeps its first value. */
export const REREGISTER_FIELDS = PROPERTIES.filter((property) => property !== 'agentId' && property !== 'registeredAt');

/** A row as selected by agentColumns: PostgreSQL answers bigint columns as strings. */
export type StoredRow = Omit<AgentRecord, 'registeredAt' | 'lastHeartbeat' | 'expiresAt'> &
  Record<'registeredAt' | 'lastHeartbeat' | 'expiresAt', number | string>;

export function fromRow(row: StoredRow): AgentRecord {
  return {
    ...row,
    registeredAt: bigintValue(row.registeredAt),
    lastHeartbeat: bigintValue(row.lastHeartbeat),
    expiresAt: bigintValue(row.expiresAt),
  };
}

/** What a registration stores: the facts as JSON, and their lower-case search columns. */
export function registrationOf(fields: {
  agentId: string;
  agentName: string;
  host: string;
  port: number;
  ttlSeconds: number;
  metadata?: string | null;
  capabilities?: string[] | null;
  labels?: Record<string, string> | null;
  agentCard?: AgentCardLike | null;
}): Registration {
  const card = fields.agentCard ?? null;
  return {
    agentId: fields.agentId,
    agentName: fields.agentName,
    host: fields.host,
    port: fields.port,
    ttlSeconds: fields.ttlSeconds,
    metadata: fields.metadata ?? null,
    capabilities: JSON.stringify([...new Set(fields.capabilities ?? [])]),
    labels: JSON.stringify(fields.labels ?? {}),
    agentCard: card === null ? null : JSON.stringify(card),
    searchName: fold(fields.agentName),
    searchText: searchTextOf(fields.agentName, card),
  };
}

/** What a `POST /agents/register` body stores (see registrationOf). */
export function registrationOfRequest(request: RegisterAgentRequest): Registration {
  return registrationOf({
    agentId: request.agent_id,
    agentName: request.agent_name,
    host: request.host,
    port: request.port,
    ttlSeconds: request.ttl_seconds ?? DEFAULT_TTL_SECONDS,
    metadata: request.metadata,
    capabilities: request.capabilities,
    labels: request.labels,
    agentCard: request.agent_card,
  });
}

/** Whether a re-registration changes anything but the lease (an `updated` event), compared on what was stored. */
export function registrationChanged(before: Registration, after: Registration): boolean {
  return (
    before.agentName !== after.agentName ||
    before.host !== after.host ||
    before.port !== after.port ||
    before.ttlSeconds !== after.ttlSeconds ||
    (before.metadata ?? null) !== (after.metadata ?? null) ||
    before.capabilities !== after.capabilities ||
    before.labels !== after.labels ||
    (before.agentCard ?? null) !== (after.agentCard ?? null)
  );
}

/** The agent as the API shows it; `owner` only to admin keys (`withOwner`). */
export function toAgentInfo(record: AgentRecord, now: number, withOwner = false): AgentInfo {
  const info: AgentInfo = {
    agent_id: record.agentId,
    agent_name: record.agentName,
    host: record.host,
    port: record.port,
    ttl_seconds: record.ttlSeconds,
    metadata: record.metadata ?? null,
    capabilities: JSON.parse(record.capabilities) as string[],
    labels: JSON.parse(record.labels) as Record<string, string>,
    agent_card: record.agentCard ? (JSON.parse(record.agentCard) as AgentCardLike) : null,
    registered_at: iso(record.registeredAt),
    last_heartbeat: iso(record.lastHeartbeat),
    expires_at: iso(record.expiresAt),
    is_alive: isAlive(record.expiresAt, now),
  };
  if (withOwner) info.owner = record.owner ?? null;
  return info;
}

/**
 * The agent as toAgentInfo shows it, as the JSON text JSON.stringify makes of that, without parsing what is stored as
 * JSON: capabilities, labels and the card are stored as JSON.stringify wrote them (registrationOf), and parsing that
 * text and writing it again gives the same bytes. A full list of 8,000 agents with 30 KiB cards parsed and wrote
 * again 237 MB of JSON, most of its garbage.
 */
export function toAgentJson(record: AgentRecord, now: number, withOwner = false): string {
  const text = JSON.stringify;
  const json =
    `{"agent_id":${text(record.agentId)},"agent_name":${text(record.agentName)},"host":${text(record.host)}` +
    `,"port":${text(record.port)},"ttl_seconds":${text(record.ttlSeconds)},"metadata":${text(record.metadata ?? null)}` +
    `,"capabilities":${record.capabilities},"labels":${record.labels},"agent_card":${record.agentCard || 'null'}` +
    `,"registered_at":"${iso(record.registeredAt)}","last_heartbeat":"${iso(record.lastHeartbeat)}"` +
    `,"expires_at":"${iso(record.expiresAt)}","is_alive":${isAlive(record.expiresAt, now)}`;
  return withOwner ? `${json},"owner":${text(record.owner ?? null)}}` : `${json}}`;
}

/** The characters of an agent's text columns: what its row, its JSON and its queued write are sized by. */
export function textLength(agent: Registration): number {
  return (
    agent.agentId.length +
    agent.agentName.length +
    agent.host.length +
    (agent.metadata?.length ?? 0) +
    agent.capabilities.length +
    agent.labels.length +
    (agent.agentCard?.length ?? 0) +
    agent.searchName.length +
    agent.searchText.length
  );
}

/** About how many bytes an agent takes as read from the database (its JSON text is about as long). */
export function storedBytes(record: AgentRecord): number {
  return 256 + textLength(record);
}

export function iso(epochMillis: number): string {
  return new Date(epochMillis).toISOString();
}
