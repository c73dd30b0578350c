// The registry's API as the dashboard uses it: same origin, the key as a Bearer header (never in a URL).

const KEY_ITEM = 'agent-registry.api-key';

/** The key lives in sessionStorage: this tab only, gone when it closes. */
export const apiKey = {
  get: () => sessionStorage.getItem(KEY_ITEM) ?? undefined,
  set: (key) => sessionStorage.setItem(KEY_ITEM, key),
  clear: () => sessionStorage.removeItem(KEY_ITEM),
};

/** The API answered with a status the caller did not ask for; `detail` is the problem's, when it sent one. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

/** The registry could not be reached at all (refused, reset, offline). */
export class ConnectionError extends Error {}

/** A fetch of the API: the key if there is one, no HTTP cache. Throws ConnectionError, or ApiError for `!ok`. */
export async function api(path, { headers = {}, signal, allow = [] } = {}) {
  const key = apiKey.get();
  let response;
  try {
    response = await fetch(path, {
      headers: { Accept: 'application/json', ...headers, ...(key ? { Authorization: `Bearer ${key}` } : {}) },
      cache: 'no-store',
      signal,
    });
  } catch (error) {
    if (error?.name === 'AbortError') throw error;
    throw new ConnectionError(error?.message ?? String(error));
  }
  if (!response.ok && !allow.includes(response.status)) throw await apiError(response);
  return response;
}

async function apiError(response) {
  let detail;
  try {
    detail = (await response.json())?.detail;
  } catch {
    // Not problem details (a proxy's page): the status says enough.
  }
  return new ApiError(response.status, typeof detail === 'string' ? detail : undefined);
}

/** The query string of a set of filters, as GET /agents and GET /events take them. */
export function filterParams({ q, capabilities, labels }) {
  const params = new URLSearchParams();
  if (q) params.set('q', q);
  for (const capability of capabilities) params.append('capability', capability);
  for (const label of labels) params.append('label', label);
  return params;
}

const PAGE = 1000;

/**
 * Every agent that matches, dead ones included, page after page (the `Link` header's rel="next"), and the revision of
 * the first page and its position (`X-Registry-Position`): watching from it misses nothing, and hears 410 if the
 * registry's log was replaced meanwhile (a restore, a failover to a replica that lagged).
 */
export async function listAgents(filters, signal) {
  const params = filterParams(filters);
  params.set('include_dead', 'true');
  params.set('limit', String(PAGE));
  let next = `/agents?${params}`;
  let revision;
  let position;
  const agents = [];
  while (next) {
    const response = await api(next, { signal });
    revision ??= Number(response.headers.get('X-Registry-Revision'));
    position ??= response.headers.get('X-Registry-Position') ?? String(revision);
    agents.push(...(await response.json()));
    next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('Link') ?? '')?.[1];
  }
  return { agents, revision, position };
}
