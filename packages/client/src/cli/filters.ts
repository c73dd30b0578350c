import type { AgentFilter } from '../index.js';
import { listOption, Options, stringOption, Values } from './command.js';
import { UsageError } from './exit-codes.js';

/** The filters `list` and `watch` share: those of `GET /agents` and `GET /events`. */
export const filterOptions: Options = {
  capability: { type: 'string', multiple: true },
  label: { type: 'string', multiple: true },
  skill: { type: 'string' },
  name: { type: 'string' },
  q: { type: 'string' },
};

export const filterHelp: [string, string][] = [
  ['--capability <name>', 'Has this capability; repeat it for agents with all of them'],
  ['--label <key:value>', 'Has this label; repeat it for all of them'],
  ['--skill <id-or-tag>', "A card skill's id or one of its tags is this"],
  ['--name <text>', 'The name contains this, in any case'],
  ['--q <text>', "The name, card description, or a skill's name, description or tags contain this, in any case"],
];

export function filterOf(values: Values): AgentFilter {
  const labels = listOption(values, 'label');
  const bad = labels.find((label) => !label.includes(':'));
  if (bad !== undefined) throw new UsageError(`--label takes key:value, not "${bad}".`);
  const filter: AgentFilter = { capability: listOption(values, 'capability'), label: labels };
  for (const name of ['skill', 'name', 'q'] as const) {
    const value = stringOption(values, name);
    if (value !== undefined) filter[name] = value;
  }
  return filter;
}
