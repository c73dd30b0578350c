import { ValidateBy, ValidationOptions } from 'class-validator';
import { isStorableText } from '../common/is-storable-text.decorator';
import { agentCardProblems, AgentCardLike, skillTerms } from './agent-card';

/**
 * What agents register to be found by (capabilities, labels, an A2A card), and what a query asks for. The same
 * rules decide which agents `GET /agents` returns (as SQL, in agent-query.ts) and which events a watch delivers (here,
 * in memory), so both read the facts through the functions below.
 */

export const CAPABILITIES_MAX = 64;
export const CAPABILITY_MAX_LENGTH = 64;
export const CAPABILITY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
export const CAPABILITY_RULE = `each capability must be 1-${CAPABILITY_MAX_LENGTH} characters of letters, digits and . _ : / - starting with a letter or digit`;

export const LABELS_MAX = 32;
export const LABEL_KEY_MAX_LENGTH = 63;
export const LABEL_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
export const LABEL_VALUE_MAX_LENGTH = 256;

const LABEL_KEY_RULE = `must be 1-${LABEL_KEY_MAX_LENGTH} characters of letters, digits and . _ / - starting with a letter or digit`;

/** The facts of an agent the filters read. */
export interface Discoverable {
  agent_name: string;
  capabilities: string[];
  labels: Record<string, string>;
  agent_card: AgentCardLike | null;
}

/** A query's filters; every one given must match. `name` and `q` are already lower case. */
export interface AgentFilter {
  capabilities: string[];
  labels: [string, string][];
  skill?: string;
  name?: string;
  q?: string;
}

export const NO_FILTER: AgentFilter = { capabilities: [], labels: [] };

/** Case folding for `name=` and `q=`: one function on both sides of every comparison. */
export function fold(text: string): string {
  return text.toLowerCase();
}

/**
 * What `q=` searches: the name, the card's description, and its skills' names, descriptions and tags. Stored as
 * `search_text` by every registration; a change here needs a migration that recomputes it for the agents already
 * stored (see search-backfill.ts).
 */
export function searchTextOf(agentName: string, card: AgentCardLike | null): string {
  const skills = card?.skills ?? [];
  const words = skills.flatMap((s) => [s.name, s.description, ...s.tags]);
  return fold([agentName, card?.description ?? '', ...words].join('\n'));
}

/** Whether an agent matches a filter, as `GET /agents` would decide it. */
export function matchesFilter(agent: Discoverable, filter: AgentFilter): boolean {
  return (
    filter.capabilities.every((capability) => agent.capabilities.includes(capability)) &&
    filter.labels.every(([key, value]) => agent.labels[key] === value) &&
    (filter.skill === undefined || skillTerms(agent.agent_card).includes(filter.skill)) &&
    (filter.name === undefined || fold(agent.agent_name).includes(filter.name)) &&
    (filter.q === undefined || searchTextOf(agent.agent_name, agent.agent_card).includes(filter.q))
  );
}

/** `key:value` (split at the first colon), or why not. */
export function parseLabelSelector(selector: string): [string, string] | string {
  const colon = selector.indexOf(':');
  if (colon < 0) return 'label must be key:value';
  const key = selector.slice(0, colon);
  const value = selector.slice(colon + 1);
  return labelProblem(key, value) ?? [key, value];
}

function labelProblem(key: string, value: unknown): string | undefined {
  if (key.length < 1 || key.length > LABEL_KEY_MAX_LENGTH || !LABEL_KEY_PATTERN.test(key)) {
    return `label key ${JSON.stringify(key.slice(0, LABEL_KEY_MAX_LENGTH + 1))} ${LABEL_KEY_RULE}`;
  }
  if (typeof value !== 'string') return `labels.${key} must be a string`;
  if (value.length > LABEL_VALUE_MAX_LENGTH) {
    return `labels.${key} must be at most ${LABEL_VALUE_MAX_LENGTH} characters`;
  }
  if (!isStorableText(value)) return `labels.${key} must not contain NUL characters or unpaired surrogates`;
  return undefined;
}

/** What is wrong with a `labels` object, or undefined. */
export function labelsProblem(labels: unknown): string | undefined {
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    return 'labels must be an object of string values';
  }
  const entries = Object.entries(labels);
  if (entries.length > LABELS_MAX) return `labels must have at most ${LABELS_MAX} entries`;
  for (const [key, value] of entries) {
    const problem = labelProblem(key, value);
    if (problem) return problem;
  }
  return undefined;
}

/** What is wrong with a `capabilities` list, or undefined. */
export function capabilitiesProblem(capabilities: unknown): string | undefined {
  if (!Array.isArray(capabilities)) return 'capabilities must be an array of strings';
  if (capabilities.length > CAPABILITIES_MAX) return `capabilities must have at most ${CAPABILITIES_MAX} entries`;
  for (const [i, capability] of capabilities.entries()) {
    if (typeof capability !== 'string') return `capabilities[${i}] must be a string`;
    if (!isCapability(capability)) return `capabilities[${i}]: ${CAPABILITY_RULE}`;
  }
  return undefined;
}

export function isCapability(value: string): boolean {
  return value.length >= 1 && value.length <= CAPABILITY_MAX_LENGTH && CAPABILITY_PATTERN.test(value);
}

/** `capabilities`: up to CAPABILITIES_MAX strings; the message names the first bad one by index. */
export function IsCapabilities(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isCapabilities',
      validator: {
        validate: (value: unknown) => capabilitiesProblem(value) === undefined,
        defaultMessage: (args) => capabilitiesProblem(args?.value) ?? 'capabilities are invalid',
      },
    },
    options,
  );
}

/** `labels`: an object of up to LABELS_MAX string pairs; the message names the bad key. */
export function IsLabels(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isLabels',
      validator: {
        validate: (value: unknown) => labelsProblem(value) === undefined,
        defaultMessage: (args) => labelsProblem(args?.value) ?? 'labels are invalid',
      },
    },
    options,
  );
}

/** `agent_card`: an A2A Agent Card; the message names the path of each bad member. */
export function IsAgentCard(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isAgentCard',
      validator: {
        validate: (value: unknown) => agentCardProblems(value).length === 0,
        defaultMessage: (args) => agentCardProblems(args?.value).join('; '),
      },
    },
    options,
  );
}
