// The dashboard: lists the agents (GET /agents), notes the list's revision and follows GET /events from it, polls
// GET /health for the degraded states and the registry's clock. No framework: the DOM is updated in place, so a
// focused row keeps its focus while the table changes around it.
import { api, ApiError, apiKey, ConnectionError, filterParams, listAgents } from './api.js';
import { readEventStream } from './event-stream.js';
import { ago, labelTexts, until } from './format.js';

const HEALTH_EVERY_MS = 5_000;
/** Heartbeats are not events: the list is read again this often to show the leases they renewed. */
const REFRESH_EVERY_MS = 15_000;
/** A lease seen to run out is shown expired this long after, unless a fresh read shows it renewed first. */
const EXPIRY_GRACE_MS = 2_000;
/** The registry sends a keepalive every 15 s (EVENTS_KEEPALIVE_SECONDS): silence this long means a dead stream. */
const STREAM_SILENCE_MS = 60_000;
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 15_000;

const $ = (id) => document.getElementById(id);

const state = {
  /** The agents shown, by agent_id: AgentInfo as the registry last described them. */
  agents: new Map(),
  /** The revision the view reflects: the list's, then each event's. */
  revision: undefined,
  /** Its position (`<revision>.<fingerprint>`): where the watch resumes. */
  position: undefined,
  /** The registry's clock minus this browser's (from GET /health's checked_at): ages use the registry's time. */
  offsetMs: 0,
  filters: { q: '', capabilities: [], labels: [] },
  /** Bumped whenever the view starts over (new filters, a new key, a 410): late answers of the old one are dropped. */
  generation: 0,
  watch: undefined,
  registryTotals: undefined,
  /** Agents whose lease was seen to run out, and when (this browser's time), until a read confirms or renews it. */
  dueSince: new Map(),
};

const now = () => Date.now() + state.offsetMs;

// ---- Banners --------------------------------------------------------------------------------------------------

const BANNERS = {
  guard: 'warn',
  database: 'error',
  connection: 'error',
  auth: 'error',
  error: 'error',
};

/** Shows (or, with no text, removes) the banner of one kind; each kind has one place, so no duplicates pile up. */
function banner(kind, text, action) {
  const id = `banner-${kind}`;
  let element = $(id);
  if (!text) {
    element?.remove();
    return;
  }
  if (!element) {
    element = document.createElement('div');
    element.id = id;
    element.className = `banner banner-${BANNERS[kind]}`;
    element.setAttribute('role', BANNERS[kind] === 'error' ? 'alert' : 'status');
    $('banners').append(element);
  }
  const message = document.createElement('p');
  message.textContent = text;
  element.replaceChildren(message);
  if (action) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = action.label;
    button.addEventListener('click', action.run);
    element.append(button);
  }
}

function liveState(kind, text) {
  const element = $('live-state');
  element.dataset.state = kind;
  element.textContent = text;
}

// ---- The key --------------------------------------------------------------------------------------------------

let keyPrompt = false;

/**
 * Asks for a key (once, however many requests were refused meanwhile), then starts the view over with it. `message`
 * says why a key is asked for again.
 */
function askForKey(message) {
  const dialog = $('key-dialog');
  if (message) $('key-error').textContent = message;
  if (keyPrompt) return;
  keyPrompt = true;
  if (!message) $('key-error').textContent = '';
  const form = $('key-form');
  const input = $('key-input');
  input.value = '';
  const done = () => {
    form.removeEventListener('submit', onSubmit);
    $('key-cancel').removeEventListener('click', onCancel);
    dialog.removeEventListener('cancel', onCancel);
    dialog.close();
    keyPrompt = false;
  };
  const onSubmit = (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (key === '') return;
    apiKey.set(key);
    done();
    banner('auth');
    void restart();
  };
  const onCancel = (event) => {
    event.preventDefault();
    done();
    banner('auth', 'This registry needs an API key to show its agents.', {
      label: 'Enter a key',
      run: () => askForKey(),
    });
  };
  form.addEventListener('submit', onSubmit);
  $('key-cancel').addEventListener('click', onCancel);
  dialog.addEventListener('cancel', onCancel);
  dialog.showModal();
  input.focus();
}

/** What a failed request means for the page. Answers whether the caller should retry on its own. */
function reportFailure(error, generation) {
  if (generation !== state.generation || error?.name === 'AbortError') return false;
  if (error instanceof ConnectionError) {
    banner('connection', 'Lost the connection to the registry. Retrying…');
    liveState('offline', 'Disconnected');
    return true;
  }
  banner('connection');
  if (error instanceof ApiError && error.status === 401) {
    const hadKey = apiKey.get() !== undefined;
    apiKey.clear();
    liveState('offline', 'Waiting for an API key');
    askForKey(hadKey ? 'The registry did not accept that key. Check it and enter it again.' : undefined);
    return false;
  }
  if (error instanceof ApiError && error.status === 503) {
    banner('database', `The registry cannot reach its database: ${error.detail ?? 'it answered 503'}. Retrying…`);
    return true;
  }
  if (error instanceof ApiError && error.status === 403) {
    banner('auth', error.detail ?? 'The registry refused this request (403).');
    liveState('offline', 'Refused');
    return false;
  }
  if (error instanceof ApiError && error.status === 400) {
    $('filter-error').textContent = error.detail ?? 'The registry did not accept these filters.';
    return false;
  }
  banner('error', `The registry answered: ${error?.message ?? String(error)}`);
  return true;
}

// ---- The view ---------------------------------------------------------------------------------------------------

const rows = new Map();

function isExpired(agent, at = now()) {
  if (!agent.is_alive) return true;
  const due = state.dueSince.get(agent.agent_id);
  return at >= Date.parse(agent.expires_at) && due !== undefined && Date.now() - due >= EXPIRY_GRACE_MS;
}

function chips(list, className) {
  const ul = document.createElement('ul');
  ul.className = `chips ${className}`;
  for (const text of list) {
    const li = document.createElement('li');
    li.textContent = text;
    ul.append(li);
  }
  return ul;
}

function timeElement(iso, text) {
  const time = document.createElement('time');
  time.dateTime = iso;
  time.title = iso;
  time.textContent = text;
  return time;
}

const COLUMNS = ['Agent', 'Name', 'Address', 'Capabilities', 'Labels', 'Last heartbeat', 'Expires', 'State'];

function newRow(agentId) {
  const tr = document.createElement('tr');
  // Explicit roles: at phone widths the cells are laid out as blocks, which would otherwise lose the table's semantics.
  tr.setAttribute('role', 'row');
  tr.dataset.agentId = agentId;
  for (const column of COLUMNS) {
    const td = document.createElement(column === 'Agent' ? 'th' : 'td');
    if (column === 'Agent') td.scope = 'row';
    td.setAttribute('role', column === 'Agent' ? 'rowheader' : 'cell');
    td.dataset.label = column;
    tr.append(td);
  }
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link';
  button.textContent = agentId;
  button.setAttribute('aria-haspopup', 'dialog');
  button.addEventListener('click', () => openDetail(agentId, button));
  tr.cells[0].append(button);
  // The whole row opens the detail for a mouse; the keyboard has the button.
  tr.addEventListener('click', (event) => {
    if (!event.target.closest('button')) button.click();
  });
  return tr;
}

function fillRow(tr, agent) {
  const [, name, address, capabilities, labels] = tr.cells;
  name.textContent = agent.agent_name;
  address.textContent = `${agent.host}:${agent.port}`;
  capabilities.replaceChildren(chips(agent.capabilities, 'capabilities'));
  labels.replaceChildren(chips(labelTexts(agent), 'labels'));
  tickRow(tr, agent);
}

/** The cells that change with time alone. */
function tickRow(tr, agent, at = now()) {
  const [, , , , , heartbeat, expires, stateCell] = tr.cells;
  heartbeat.replaceChildren(timeElement(agent.last_heartbeat, ago(agent.last_heartbeat, at)));
  expires.replaceChildren(timeElement(agent.expires_at, until(agent.expires_at, at)));
  const expired = isExpired(agent, at);
  if (tr.dataset.state !== (expired ? 'expired' : 'alive')) {
    tr.dataset.state = expired ? 'expired' : 'alive';
    const badge = document.createElement('span');
    badge.className = `badge badge-${tr.dataset.state}`;
    badge.textContent = tr.dataset.state;
    stateCell.replaceChildren(badge);
  }
}

/** Brings the table in line with state.agents: rows in agent_id order, added, changed and removed in place. */
function render() {
  const tbody = $('agents').tBodies[0];
  const ids = [...state.agents.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [id, tr] of rows) {
    if (!state.agents.has(id)) {
      tr.remove();
      rows.delete(id);
    }
  }
  let previous;
  for (const id of ids) {
    let tr = rows.get(id);
    if (!tr) {
      tr = newRow(id);
      rows.set(id, tr);
    }
    fillRow(tr, state.agents.get(id));
    const expectedNext = previous ? previous.nextSibling : tbody.firstChild;
    if (expectedNext !== tr) tbody.insertBefore(tr, expectedNext);
    previous = tr;
  }
  $('empty').hidden = ids.length > 0;
  renderCounts();
  renderKnownCapabilities();
  renderDetail();
}

function setText(id, text) {
  const element = $(id);
  if (element.textContent !== text) element.textContent = text;
}

function renderCounts(at = now()) {
  let expired = 0;
  for (const agent of state.agents.values()) if (isExpired(agent, at)) expired++;
  const total = state.agents.size;
  setText('count-alive', String(total - expired));
  setText('count-expired', String(expired));
  setText('count-total', String(total));
  const filtered = state.filters.q || state.filters.capabilities.length > 0 || state.filters.labels.length > 0;
  const totals = state.registryTotals;
  setText(
    'counts-scope',
    filtered
      ? `Agents matching the filters${totals ? ` (the registry holds ${totals.registered_agents})` : ''}.`
      : 'Every agent the registry holds, including those whose lease ran out and that cleanup has not removed yet.',
  );
}

function renderKnownCapabilities() {
  const known = new Set();
  for (const agent of state.agents.values()) for (const capability of agent.capabilities) known.add(capability);
  const list = $('known-capabilities');
  if (list.options.length === known.size && [...list.options].every((option) => known.has(option.value))) return;
  list.replaceChildren(
    ...[...known].sort().map((capability) => {
      const option = document.createElement('option');
      option.value = capability;
      return option;
    }),
  );
}

/** Every second: ages, expiry times, states and counts; leases that just ran out ask for a fresh read. */
function tick() {
  const at = now();
  let due = false;
  for (const [id, agent] of state.agents) {
    if (agent.is_alive && at >= Date.parse(agent.expires_at) && !state.dueSince.has(id)) {
      state.dueSince.set(id, Date.now());
      due = true;
    }
    const tr = rows.get(id);
    if (tr) tickRow(tr, agent, at);
  }
  renderCounts(at);
  renderDetailTimes(at);
  if (due) scheduleRefresh(500);
}

// ---- The detail -------------------------------------------------------------------------------------------------

let detail;

function openDetail(agentId, opener) {
  detail = { agentId, opener, cardJson: undefined };
  $('detail-heading').textContent = agentId;
  $('detail-gone').hidden = true;
  $('detail-card').replaceChildren();
  renderDetail();
  $('detail').showModal();
  $('detail-close').focus();
}

function closeDetail() {
  const opener = detail?.opener;
  detail = undefined;
  if ($('detail').open) $('detail').close();
  if (opener?.isConnected) opener.focus();
}

function field(dl, term, value) {
  const div = document.createElement('div');
  const dt = document.createElement('dt');
  dt.textContent = term;
  const dd = document.createElement('dd');
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value;
  div.append(dt, dd);
  dl.append(div);
  return dd;
}

function renderDetail() {
  if (!detail) return;
  const agent = state.agents.get(detail.agentId);
  if (!agent) {
    const gone = $('detail-gone');
    if (gone.hidden) {
      gone.textContent = 'This agent is no longer in the registry (deregistered, or removed after its lease ran out).';
      gone.hidden = false;
    }
    return;
  }
  const dl = $('detail-fields');
  dl.replaceChildren();
  field(dl, 'Name', agent.agent_name);
  field(dl, 'Address', `${agent.host}:${agent.port}`);
  field(dl, 'State', isExpired(agent) ? 'expired' : 'alive').id = 'detail-state';
  field(dl, 'Lease', `${agent.ttl_seconds}s`);
  field(dl, 'Registered', timeElement(agent.registered_at, agent.registered_at));
  field(dl, 'Last heartbeat', timeElement(agent.last_heartbeat, ago(agent.last_heartbeat, now()))).id =
    'detail-heartbeat';
  field(dl, 'Expires', timeElement(agent.expires_at, until(agent.expires_at, now()))).id = 'detail-expires';
  field(dl, 'Capabilities', agent.capabilities.length ? chips(agent.capabilities, 'capabilities') : 'none');
  const labels = labelTexts(agent);
  field(dl, 'Labels', labels.length ? chips(labels, 'labels') : 'none');
  if (agent.metadata !== null) field(dl, 'Metadata', agent.metadata);
  const cardJson = JSON.stringify(agent.agent_card);
  if (cardJson !== detail.cardJson) {
    detail.cardJson = cardJson;
    // No card, no request: its 404 would only add an error to the browser's console.
    if (agent.agent_card === null) $('detail-card').textContent = 'This agent registered no card.';
    else void loadCard(detail.agentId);
  }
}

function renderDetailTimes(at) {
  if (!detail) return;
  const agent = state.agents.get(detail.agentId);
  if (!agent) return;
  $('detail-heartbeat')?.replaceChildren(timeElement(agent.last_heartbeat, ago(agent.last_heartbeat, at)));
  $('detail-expires')?.replaceChildren(timeElement(agent.expires_at, until(agent.expires_at, at)));
  const stateText = isExpired(agent, at) ? 'expired' : 'alive';
  if ($('detail-state') && $('detail-state').textContent !== stateText) $('detail-state').textContent = stateText;
}

/** The card as GET /agents/{id}/card serves it: a summary, and the JSON as registered. */
async function loadCard(agentId) {
  const target = $('detail-card');
  const generation = state.generation;
  target.textContent = 'Loading the card…';
  let card;
  try {
    const response = await api(`/agents/${encodeURIComponent(agentId)}/card`, { allow: [404] });
    card = response.status === 404 ? null : await response.json();
  } catch (error) {
    if (detail?.agentId === agentId) target.textContent = 'The card could not be loaded.';
    reportFailure(error, generation);
    return;
  }
  if (detail?.agentId !== agentId) return;
  if (card === null) {
    target.textContent = 'This agent registered no card.';
    return;
  }
  const summary = document.createElement('dl');
  summary.className = 'fields';
  for (const [term, value] of [
    ['Name', card.name],
    ['Description', card.description],
    ['Version', card.version],
    ['URL', card.url ?? card.supportedInterfaces?.[0]?.url],
  ]) {
    if (typeof value === 'string') field(summary, term, value);
  }
  const skills = document.createElement('ul');
  skills.className = 'skills';
  for (const skill of Array.isArray(card.skills) ? card.skills : []) {
    // Cards come from agents: skip what is not a skill rather than fail the whole view.
    if (!skill || typeof skill !== 'object') continue;
    const li = document.createElement('li');
    const name = document.createElement('strong');
    name.textContent = skill.name ?? skill.id;
    li.append(name);
    if (skill.description) li.append(` — ${skill.description}`);
    if (Array.isArray(skill.tags) && skill.tags.length) li.append(chips(skill.tags, 'tags'));
    skills.append(li);
  }
  const raw = document.createElement('details');
  const rawSummary = document.createElement('summary');
  rawSummary.textContent = 'Card JSON';
  const pre = document.createElement('pre');
  pre.textContent = JSON.stringify(card, null, 2);
  pre.tabIndex = 0;
  raw.append(rawSummary, pre);
  const parts = [summary];
  if (skills.children.length) {
    const heading = document.createElement('h4');
    heading.textContent = 'Skills';
    parts.push(heading, skills);
  }
  parts.push(raw);
  target.replaceChildren(...parts);
}

// ---- Data: list, watch, refresh, health -------------------------------------------------------------------------

/** Applies one event of the watch (events the view already reflects are skipped). */
function apply(data, id) {
  if (state.revision !== undefined && data.revision <= state.revision) return;
  state.revision = data.revision;
  state.position = id ?? String(data.revision);
  if (data.matches && data.agent) {
    state.agents.set(data.agent_id, data.agent);
    state.dueSince.delete(data.agent_id);
  } else {
    state.agents.delete(data.agent_id);
    state.dueSince.delete(data.agent_id);
  }
  render();
}

/** Reads the list again (heartbeats renew leases without events) and takes what is newer than the view. */
async function refresh() {
  const generation = state.generation;
  let list;
  try {
    list = await listAgents(state.filters);
  } catch (error) {
    reportFailure(error, generation);
    return;
  }
  if (generation !== state.generation) return;
  banner('database');
  banner('error');
  const fresh = new Map(list.agents.map((agent) => [agent.agent_id, agent]));
  if (state.revision === undefined || list.revision >= state.revision) {
    // The list is as new as the view or newer: it is the view (the watch skips the events it already holds).
    state.agents = fresh;
    state.revision = list.revision;
    state.position = list.position;
  } else {
    // Events newer than the list were applied meanwhile: keep them, and take only the leases from the list.
    for (const [id, agent] of state.agents) {
      const listed = fresh.get(id);
      if (listed && listed.registered_at === agent.registered_at) {
        state.agents.set(id, {
          ...agent,
          last_heartbeat: listed.last_heartbeat,
          expires_at: listed.expires_at,
          is_alive: listed.is_alive,
        });
      }
    }
  }
  // A lease the registry now shows renewed is no longer due; one it shows expired needs no grace.
  for (const id of [...state.dueSince.keys()]) {
    const agent = state.agents.get(id);
    if (!agent || !agent.is_alive || Date.parse(agent.expires_at) > now()) state.dueSince.delete(id);
  }
  render();
}

let refreshTimer;

function scheduleRefresh(delayMs) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    void refresh().finally(() => scheduleRefresh(REFRESH_EVERY_MS));
  }, delayMs);
}

/** Ends the watch's wait before it retries: the registry answers again (or the browser is back online). */
let wakeWatch = () => {};

/** Follows GET /events from state.position, and again from the last event after a dropped connection. */
async function watch(generation) {
  let retryMs = RETRY_MIN_MS;
  while (generation === state.generation) {
    const controller = new AbortController();
    state.watch = controller;
    let silence;
    const activity = () => {
      clearTimeout(silence);
      silence = setTimeout(() => controller.abort(), STREAM_SILENCE_MS);
    };
    try {
      const params = filterParams(state.filters);
      params.set('since', state.position);
      const response = await api(`/events?${params}`, {
        headers: { Accept: 'text/event-stream' },
        signal: controller.signal,
        allow: [410],
      });
      if (response.status === 410) {
        // The events after our position are no longer kept, or the log was replaced: list again, and watch from the
        // new list.
        void response.body?.cancel();
        if (generation === state.generation) void restart();
        return;
      }
      banner('connection');
      liveState('live', 'Live');
      retryMs = RETRY_MIN_MS;
      activity();
      // EventSource cannot send an Authorization header: the stream is read with fetch, by the client package's
      // reader. Anything received (events, keepalive comments) is activity.
      for await (const message of readEventStream(response.body)) {
        activity();
        if (message.data !== undefined && generation === state.generation) apply(JSON.parse(message.data), message.id);
      }
      // The registry ended the stream (it is shutting down): resume, on whichever replica answers.
      if (generation === state.generation) liveState('connecting', 'Reconnecting…');
    } catch (error) {
      if (generation !== state.generation) return;
      if (error?.name === 'AbortError' || error instanceof TypeError) {
        // A stream that went silent, or a connection cut mid-stream.
        banner('connection', 'Lost the connection to the registry. Retrying…');
        liveState('offline', 'Disconnected');
      } else if (!reportFailure(error, generation)) {
        return;
      }
    } finally {
      clearTimeout(silence);
    }
    let wake;
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, retryMs);
      wake = wakeWatch = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    // A newer watch (after a restart) may have set its own by now: leave that one.
    if (wakeWatch === wake) wakeWatch = () => {};
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  }
}

/** GET /health: the degraded states (mass-expiry guard, database), the registry's totals and its clock. */
async function checkHealth() {
  // Nothing to ask until there is a key to ask with.
  if (keyPrompt) return;
  const generation = state.generation;
  const sent = Date.now();
  let response;
  try {
    response = await api('/health', { allow: [503] });
  } catch (error) {
    reportFailure(error, generation);
    return;
  }
  const received = Date.now();
  const health = await response.json().catch(() => ({}));
  if (generation !== state.generation) return;
  if ($('banner-connection')) {
    banner('connection');
    wakeWatch();
  }
  if (typeof health.checked_at === 'string') {
    state.offsetMs = Date.parse(health.checked_at) - (sent + received) / 2;
  }
  if (response.status === 503 || health.database === 'down') {
    banner('database', 'The registry cannot reach its database: lists and changes may be out of date. Retrying…');
    return;
  }
  banner('database');
  state.registryTotals = health;
  banner(
    'guard',
    health.expiry_guard?.engaged
      ? `Mass-expiry guard engaged since ${health.expiry_guard.since}: ` +
          (health.expiry_guard.whole_registry === false
            ? 'cleanup keeps the expired agents of the held keys. '
            : 'cleanup is removing no agents. ') +
          health.expiry_guard.reason
      : undefined,
  );
}

let healthTimer;

function pollHealth() {
  clearTimeout(healthTimer);
  void checkHealth().finally(() => {
    healthTimer = setTimeout(pollHealth, HEALTH_EVERY_MS);
  });
}

/** Starts the view over: health (for the clock), the list and its revision, then the watch from that revision. */
async function restart() {
  const generation = ++state.generation;
  state.watch?.abort();
  clearTimeout(refreshTimer);
  $('filter-error').textContent = '';
  liveState('connecting', 'Connecting…');
  let list;
  try {
    [, list] = await Promise.all([checkHealth(), listAgents(state.filters)]);
  } catch (error) {
    if (reportFailure(error, generation)) setTimeout(() => generation === state.generation && restart(), RETRY_MIN_MS);
    return;
  }
  if (generation !== state.generation) return;
  banner('database');
  banner('error');
  state.agents = new Map(list.agents.map((agent) => [agent.agent_id, agent]));
  state.revision = list.revision;
  state.position = list.position;
  state.dueSince.clear();
  render();
  scheduleRefresh(REFRESH_EVERY_MS);
  void watch(generation);
}

// ---- Filters ----------------------------------------------------------------------------------------------------

function readFilters() {
  const split = (value, separator) =>
    value
      .split(separator)
      .map((item) => item.trim())
      .filter((item) => item !== '');
  return {
    q: $('filter-q').value.trim(),
    capabilities: [...new Set(split($('filter-capability').value, /[\s,]+/))],
    labels: [...new Set(split($('filter-label').value, ','))],
  };
}

function applyFilters() {
  const filters = readFilters();
  if (JSON.stringify(filters) === JSON.stringify(state.filters)) return;
  state.filters = filters;
  void restart();
}

let typing;

function start() {
  const form = $('filters');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    applyFilters();
  });
  form.addEventListener('reset', () => setTimeout(applyFilters));
  // The search box filters as one types, once the typing pauses.
  $('filter-q').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(applyFilters, 300);
  });
  $('detail-close').addEventListener('click', closeDetail);
  $('detail').addEventListener('close', () => {
    if (detail) closeDetail();
  });
  window.addEventListener('online', () => {
    wakeWatch();
    pollHealth();
  });
  setInterval(tick, 1000);
  pollHealth();
  void restart();
}

start();
