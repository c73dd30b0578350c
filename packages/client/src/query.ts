/** The filters of `GET /agents` and `GET /events`: every one given must match. */
export interface AgentFilter {
  /** All of these capabilities. */
  capability?: string | string[];
  /** All of these labels: `{ region: 'eu' }` or `'region:eu'`. */
  label?: Record<string, string> | string | string[];
  /** A card skill whose id or one of whose tags equals this. */
  skill?: string;
  /** A case-insensitive substring of the agent's name. */
  name?: string;
  /** A case-insensitive substring of the name, card description, or a card skill's name, description or tags. */
  q?: string;
}

export interface ListQuery extends AgentFilter {
  include_dead?: boolean;
  /** Page size (1-1000); without it, the whole match. */
  limit?: number;
  /** Where the page starts: a previous page's `next`. */
  cursor?: string;
}

/** The query string of a list or watch, repeated parameters repeated. */
export function queryString(query: ListQuery & { since?: string }): string {
  const params = new URLSearchParams();
  const list = (value: string | string[] | undefined) => (value === undefined ? [] : [value].flat());
  for (const capability of list(query.capability)) params.append('capability', capability);
  const labels =
    typeof query.label === 'object' && !Array.isArray(query.label)
      ? Object.entries(query.label).map(([key, value]) => `${key}:${value}`)
      : list(query.label);
  for (const label of labels) params.append('label', label);
  for (const name of ['skill', 'name', 'q', 'include_dead', 'limit', 'cursor', 'since'] as const) {
    const value = query[name];
    if (value !== undefined) params.append(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}
