import { isStorableText } from '../common/is-storable-text.decorator';
import { memberPath } from '../common/member-path';

/**
 * The A2A (Agent2Agent) Agent Card an agent may register. The registry checks only the members a client needs to find
 * and call the agent; everything else is the agent's business and is stored as sent. Both card shapes in use are
 * accepted: A2A 1.0 (`supportedInterfaces`) and A2A 0.3 (a top-level `url`).
 */

/** A card is stored and returned on every lookup, so its size is bounded. */
export const AGENT_CARD_MAX_BYTES = 64 * 1024;

/**
 * Skill ids and tags are indexed for the `skill=` filter (PostgreSQL refuses index entries over about 2,700 bytes),
 * so each is bounded like a label value.
 */
export const SKILL_TERM_MAX_LENGTH = 256;

/** A badly broken card should not produce a response as large as the card itself. */
export const AGENT_CARD_MAX_PROBLEMS = 10;

/** What a card that passed agentCardProblems is known to hold. */
export interface AgentCardLike {
  name: string;
  description: string;
  version: string;
  skills: { id: string; name: string; description: string; tags: string[] }[];
  [member: string]: unknown;
}

/** For Swagger examples: a small card in the A2A 1.0 shape. */
export const EXAMPLE_AGENT_CARD: AgentCardLike = {
  name: 'Planner',
  description: 'Plans multi-day trips.',
  version: '1.0.0',
  supportedInterfaces: [{ url: 'http://10.0.4.17:8080/a2a', protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
  capabilities: { streaming: true },
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [
    {
      id: 'plan-trip',
      name: 'Plan a trip',
      description: 'Builds a day-by-day itinerary.',
      tags: ['travel', 'planning'],
    },
  ],
};

const ROOT = 'agent_card';

/**
 * What is wrong with a card, first problems first, at most AGENT_CARD_MAX_PROBLEMS; empty when it is valid. Each
 * problem names the bad member's path and never its value, which may be large or not meant to be echoed.
 */
export function agentCardProblems(card: unknown): string[] {
  if (!isObject(card)) return [`${ROOT} must be a JSON object`];
  // Checked before walking, so an oversized card costs one serialisation and not a walk of every member.
  if (jsonBytes(card) > AGENT_CARD_MAX_BYTES) return [`${ROOT} exceeds ${AGENT_CARD_MAX_BYTES} bytes as JSON`];

  const problems = new Problems();
  requireNonEmptyString(problems, card, ROOT, 'name');
  requireString(problems, card, ROOT, 'description');
  requireNonEmptyString(problems, card, ROOT, 'version');
  checkEndpoints(problems, card);
  checkSkills(problems, card);
  return problems.list;
}

/** The distinct skill ids and tags of a valid card, in first-seen order: the words a search by skill matches. */
export function skillTerms(card: AgentCardLike | null | undefined): string[] {
  const terms = new Set<string>();
  for (const skill of card?.skills ?? []) {
    terms.add(skill.id);
    for (const tag of skill.tags) terms.add(tag);
  }
  return [...terms];
}

class Problems {
  readonly list: string[] = [];

  get full(): boolean {
    return this.list.length >= AGENT_CARD_MAX_PROBLEMS;
  }

  add(path: string, rule: string): void {
    if (!this.full) this.list.push(`${path} ${rule}`);
  }
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isArray(value: unknown): value is unknown[] {
  return Array.isArray(value);
}

function jsonBytes(card: JsonObject): number {
  try {
    return Buffer.byteLength(JSON.stringify(card), 'utf8');
  } catch {
    // Only a value built in code (a cycle, a BigInt) fails here, never a parsed body; it cannot be stored either.
    return Infinity;
  }
}

function requireString(problems: Problems, object: JsonObject, path: string, member: string): void {
  const value = object[member];
  if (typeof value !== 'string') problems.add(memberPath(path, member), 'must be a string');
  else requireStorable(problems, value, memberPath(path, member));
}

function requireNonEmptyString(problems: Problems, object: JsonObject, path: string, member: string): void {
  const value = object[member];
  if (typeof value !== 'string' || value === '') problems.add(memberPath(path, member), 'must be a non-empty string');
  else requireStorable(problems, value, memberPath(path, member));
}

/** The members the registry reads are also stored in columns of their own (search text, skill index). */
function requireStorable(problems: Problems, value: string, path: string): void {
  if (!isStorableText(value)) problems.add(path, 'must not contain NUL characters or unpaired surrogates');
}

/** Where the agent is called: A2A 1.0 lists interfaces, A2A 0.3 has one `url`; a card may carry both. */
function checkEndpoints(problems: Problems, card: JsonObject): void {
  const interfaces = card.supportedInterfaces;
  if (interfaces !== undefined) {
    const path = memberPath(ROOT, 'supportedInterfaces');
    if (!isArray(interfaces) || interfaces.length === 0) {
      problems.add(path, 'must be a non-empty array');
    } else {
      for (let i = 0; i < interfaces.length && !problems.full; i++) {
        checkInterface(problems, interfaces[i], memberPath(path, i));
      }
    }
  }
  if (card.url !== undefined) requireNonEmptyString(problems, card, ROOT, 'url');
  if (interfaces === undefined && card.url === undefined) {
    problems.add(ROOT, 'must have supportedInterfaces (A2A 1.0) or url (A2A 0.3)');
  }
}

function checkInterface(problems: Problems, agentInterface: unknown, path: string): void {
  if (!isObject(agentInterface)) return problems.add(path, 'must be an object');
  requireNonEmptyString(problems, agentInterface, path, 'url');
  // Optional here (a 0.3-era client may omit them), but a value of the wrong type would mislead a caller.
  for (const member of ['protocolBinding', 'protocolVersion']) {
    if (agentInterface[member] !== undefined) requireString(problems, agentInterface, path, member);
  }
}

function checkSkills(problems: Problems, card: JsonObject): void {
  const skills = card.skills;
  const path = memberPath(ROOT, 'skills');
  if (!isArray(skills)) return problems.add(path, 'must be an array');
  for (let i = 0; i < skills.length && !problems.full; i++) checkSkill(problems, skills[i], memberPath(path, i));
}

function checkSkill(problems: Problems, skill: unknown, path: string): void {
  if (!isObject(skill)) return problems.add(path, 'must be an object');
  requireNonEmptyString(problems, skill, path, 'id');
  requireTerm(problems, skill.id, memberPath(path, 'id'));
  requireNonEmptyString(problems, skill, path, 'name');
  requireString(problems, skill, path, 'description');
  const tags = skill.tags;
  const tagsPath = memberPath(path, 'tags');
  if (!isArray(tags)) return problems.add(tagsPath, 'must be an array of strings');
  for (let i = 0; i < tags.length && !problems.full; i++) {
    if (typeof tags[i] !== 'string') problems.add(memberPath(tagsPath, i), 'must be a string');
    else {
      requireStorable(problems, tags[i] as string, memberPath(tagsPath, i));
      requireTerm(problems, tags[i], memberPath(tagsPath, i));
    }
  }
}

function requireTerm(problems: Problems, term: unknown, path: string): void {
  if (typeof term === 'string' && term.length > SKILL_TERM_MAX_LENGTH) {
    problems.add(path, `must be at most ${SKILL_TERM_MAX_LENGTH} characters`);
  }
}
