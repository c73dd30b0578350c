import { AgentCardLike } from '../agent-card';
import { AgentRecord } from './agent-record.entity';
import { searchTextOf, fold } from '../discovery';
import { AgentInfo } from '../dto/agent-info.dto';
import { isAlive } from '../lease';

/**
 * agent_record rows in and out of raw SQL, and as the API shows them. Raw statements select AGENT_COLUMNS, so every
 * read maps its rows the same way on both dialects.
 */

/** A registration as the client sent it; the writer stamps the times when its batch commits. */
export type Registration = Omit<AgentRecord, 'registeredAt' | 'lastHeartbeat' | 'expiresAt'>;

/** Every column of agent_record under its property name, for a select list or RETURNING (prefix: a table alias). */
export function agentColumns(prefix = ''): string {
  return COLUMNS.map(([column, property]) => `${prefix}${column} as "${property}"`).join(', ');
}

const COLUMNS: [string, keyof AgentRecord][] = [
  ['agent_id', 'agentId'],
  ['agent_name', 'agentName'],
  ['host', 'host'],
  ['port', 'port'],
  ['ttl_seconds', 'ttlSeconds'],
  ['metadata', 'metadata'],
  ['capabilities', 'capabilities'],
  ['labels', 'labels'],
  ['agent_card', 'agentCard'],
  ['search_name', 'searchName'],
  ['search_text', 'searchText'],
  ['owner', 'owner'],
  ['registered_at', 'registeredAt'],
  ['last_heartbeat', 'lastHeartbeat'],
  ['expires_at', 'expiresAt'],
];

/** A row as selected by agentColumns: PostgreSQL answers bigint columns as strings. */
export type StoredRow = Omit<AgentRecord, 'registeredAt' | 'lastHeartbeat' | 'expiresAt'> &
  Record<'registeredAt' | 'lastHeartbeat' | 'expiresAt', number | string>;

export function fromRow(row: StoredRow): AgentRecord {
  return {
    ...row,
    registeredAt: Number(row.registeredAt),
    lastHeartbeat: Number(row.lastHeartbeat),
    expiresAt: Number(row.expiresAt),
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

/** About how many bytes an agent takes as read from the database (its JSON text is about as long). */
export function storedBytes(record: AgentRecord): number {
  return (
    256 +
    record.agentId.length +
    record.agentName.length +
    record.host.length +
    (record.metadata?.length ?? 0) +
    record.capabilities.length +
    record.labels.length +
    (record.agentCard?.length ?? 0) +
    record.searchText.length
  );
}

export function iso(epochMillis: number): string {
  return new Date(epochMillis).toISOString();
}
