import { Command, integerOption, listOption, prettyJson, stringOption, Values } from '../command.js';
import { EXIT, shown, UsageError } from '../exit-codes.js';
import { filterHelp, filterOf, filterOptions } from '../filters.js';
import { agentTable, shellWord } from '../format.js';
import { BIN } from '../help.js';

/** The page sizes `GET /agents?limit=` takes. */
const LIMIT = { min: 1, max: 1000 };

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
    ['--cursor <cursor>', 'The page after the one that printed this cursor (with --limit, same filters)'],
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
    const limit = integerOption(values, 'limit', LIMIT);
    const cursor = stringOption(values, 'cursor');
    // The registry pages only with a limit: say so before asking it.
    if (cursor !== undefined && limit === undefined) {
      throw new UsageError('--cursor needs --limit (the page size).', 'Run the command the last page printed.');
    }
    const page = limit === undefined ? await client().listAll(query) : await client().list({ ...query, limit, cursor });
    if (values.json === true) out(prettyJson(page.agents));
    else if (page.agents.length === 0) err('No agents match.');
    else agentTable(page.agents, Date.now()).forEach((line) => out(line));
    if (page.next !== undefined && limit !== undefined) {
      err(`More agents match; the next page: ${nextPage(values, limit, page.next)}`);
    }
    return EXIT.ok;
  },
};

/**
 * The command line of the next page: this one's filters and output, its --url if given, its limit, and the cursor,
 * quoted for a shell. Never the key: --key is left out (a hint says to add it), AGENT_REGISTRY_KEY still applies.
 */
function nextPage(values: Values, limit: number, cursor: string): string {
  const words = ['list'];
  for (const name of ['capability', 'label'])
    for (const value of listOption(values, name)) words.push(`--${name}`, value);
  for (const name of ['skill', 'name', 'q', 'url']) {
    const value = stringOption(values, name);
    if (value !== undefined) words.push(`--${name}`, name === 'url' ? shown(value) : value);
  }
  if (values['include-dead'] === true) words.push('--include-dead');
  if (values.json === true) words.push('--json');
  words.push('--limit', String(limit), '--cursor', cursor);
  const line = [BIN, ...words].map(shellWord).join(' ');
  return stringOption(values, 'key') === undefined ? line : `${line} (and your --key)`;
}
