import { Command, prettyJson } from '../command.js';
import { EXIT } from '../exit-codes.js';

export const get: Command = {
  name: 'get',
  usage: 'get <id>',
  summary: 'One agent, as JSON',
  description: 'Prints the agent as the registry stores it (also one whose lease ran out but that is not removed yet).',
  options: {},
  optionHelp: [],
  args: { min: 1, max: 1 },
  examples: ['agent-registry get planner-7'],
  remote: true,
  async run({ args, client, out }) {
    out(prettyJson(await client().get(args[0])));
    return EXIT.ok;
  },
};
