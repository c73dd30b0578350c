import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsOptional, ValidateBy } from 'class-validator';
import { SKILL_TERM_MAX_LENGTH } from '../agent-card';
import { isStorableText } from '../../common/is-storable-text.decorator';
import {
  AgentFilter,
  CAPABILITIES_MAX,
  CAPABILITY_RULE,
  fold,
  isCapability,
  LABELS_MAX,
  parseLabelSelector,
} from '../discovery';

/** The longest `name=` or `q=` searched for. */
const SEARCH_MAX_LENGTH = 256;

/** A query parameter that may be repeated, as a list (a single value arrives as a string). */
const toList = ({ value }: { value: unknown }) => (value === undefined || Array.isArray(value) ? value : [value]);

/**
 * The filters' examples. Swagger UI's "Try it out" sends them all together: each matches the agent of the
 * registration example, and the example cursor of `GET /agents` is made for them.
 */
export const EXAMPLE_FILTERS = {
  capability: ['planning'],
  label: ['region:eu-west-1'],
  skill: 'travel',
  name: 'plan',
  q: 'trip',
};

/**
 * The filters `GET /agents`, `GET /events` and `GET /sd/prometheus` share. Every one given must match; an agent
 * matches `capability=a&capability=b` only if it has both.
 */
export class AgentFilterQuery {
  @ApiPropertyOptional({
    description: 'An agent capability; repeat it to ask for agents that have all of them.',
    type: [String],
    example: EXAMPLE_FILTERS.capability,
  })
  @IsOptional()
  @Transform(toList)
  @IsEach('capability', CAPABILITIES_MAX, (value) =>
    isCapability(value) ? undefined : `capability: ${CAPABILITY_RULE}`,
  )
  capability?: string[];

  @ApiPropertyOptional({
    description:
      'A label as `key:value` (split at the first colon); repeat it to ask for agents that have all of them.',
    type: [String],
    example: EXAMPLE_FILTERS.label,
  })
  @IsOptional()
  @Transform(toList)
  @IsEach('label', LABELS_MAX, (value) => {
    const parsed = parseLabelSelector(value);
    return typeof parsed === 'string' ? parsed : undefined;
  })
  label?: string[];

  @ApiPropertyOptional({
    description: 'Agents whose card has a skill whose `id`, or one of whose `tags`, equals this (case-sensitive).',
    example: EXAMPLE_FILTERS.skill,
  })
  @IsOptional()
  @IsSearchTerm('skill', SKILL_TERM_MAX_LENGTH)
  skill?: string;

  @ApiPropertyOptional({ description: 'A case-insensitive substring of `agent_name`.', example: EXAMPLE_FILTERS.name })
  @IsOptional()
  @IsSearchTerm('name', SEARCH_MAX_LENGTH)
  name?: string;

  @ApiPropertyOptional({
    description:
      "A case-insensitive substring of the agent's name, its card's description, or its card's skill names and tags.",
    example: EXAMPLE_FILTERS.q,
  })
  @IsOptional()
  @IsSearchTerm('q', SEARCH_MAX_LENGTH)
  q?: string;
}

/** A repeatable parameter: every value a string that `problem` finds nothing wrong with; one message, the first. */
function IsEach(name: string, max: number, problem: (value: string) => string | undefined): PropertyDecorator {
  const first = (values: unknown): string | undefined => {
    const list = Array.isArray(values) ? (values as unknown[]) : [values];
    // Each one is a condition of the query: as many as an agent can have.
    if (list.length > max) return `${name} may be given at most ${max} times`;
    for (const value of list) {
      const found = typeof value === 'string' ? problem(value) : `${name} must be a string`;
      if (found) return found;
    }
    return undefined;
  };
  return ValidateBy({
    name: `isEach_${name}`,
    validator: {
      validate: (value: unknown) => first(value) === undefined,
      defaultMessage: (args) => first(args?.value)!,
    },
  });
}

/** A parameter given once: a string of 1 to `max` characters. */
function IsSearchTerm(name: string, max: number): PropertyDecorator {
  const problem = (value: unknown): string | undefined =>
    typeof value !== 'string'
      ? `${name} must be given once, as a string`
      : value.length < 1 || value.length > max
        ? `${name} must be 1-${max} characters`
        : !isStorableText(value)
          ? `${name} must not contain NUL characters or unpaired surrogates`
          : undefined;
  return ValidateBy({
    name: `isSearchTerm_${name}`,
    validator: {
      validate: (value: unknown) => problem(value) === undefined,
      defaultMessage: (args) => problem(args?.value)!,
    },
  });
}

/** The filters of a validated query. */
export function agentFilterOf(query: AgentFilterQuery): AgentFilter {
  return {
    capabilities: [...new Set(query.capability ?? [])],
    labels: (query.label ?? []).map((selector) => parseLabelSelector(selector) as [string, string]),
    skill: query.skill,
    name: query.name === undefined ? undefined : fold(query.name),
    q: query.q === undefined ? undefined : fold(query.q),
  };
}
