import { Command, integerOption, prettyJson, stringOption } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { filterHelp, filterOf, filterOptions } from '../filters.js';
import { agentTable } from '../format.js';

export const list: Command = {
  name: 'list',
  usage: 'list [options]',
  summary: 'List the agents that match (a table, or --json)',
  description:
    'Lists the agents that match every filter given: the live ones, or with --include-dead also those whose lease ran\n' +
    'out and that cleanup has not removed yet. Every match by default; --limit asks for one page.',
  options: {
    ...filterOptions,
    'include-dead': { type: 'boolean' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    json: { type: 'boolean' },
  },
  optionHelp: [
    ...filterHelp,
    ['--include-dead', 'Also agents whose lease ran out (STATE expired)'],
    ['--limit <n>', 'One page of at most n agents (1-1000); stderr says how to get the next'],
    ['--cursor <cursor>', 'The page after the one that printed this cursor (same filters)'],
    ['--json', 'The agents as a JSON array, every field'],
  ],
  args: { min: 0, max: 0 },
  examples: [
    'agent-registry list',
    'agent-registry list --capability planning --label region:eu-west-1',
    'agent-registry list --include-dead --json',
  ],
  remote: true,
  async run({ values, client, out, err }) {
    const query = { ...filterOf(values), include_dead: values['include-dead'] === true || undefined };
    const limit = integerOption(values, 'limit');
    const cursor = stringOption(values, 'cursor');
    const page =
      limit === undefined && cursor === undefined
        ? await client().listAll(query)
        : await client().list({ ...query, limit, cursor });
    if (values.json === true) out(prettyJson(page.agents));
    else if (page.agents.length === 0) err('No agents match.');
    else agentTable(page.agents, Date.now()).forEach((line) => out(line));
    if (page.next !== undefined) err(`More agents match: add --cursor ${page.next}`);
    return EXIT.ok;
  },
};
