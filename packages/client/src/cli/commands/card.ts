import { Command, prettyJson } from '../command.js';
import { EXIT } from '../exit-codes.js';

export const card: Command = {
  name: 'card',
  usage: 'card <id>',
  summary: "An agent's A2A Agent Card, as JSON",
  description: 'Prints the A2A Agent Card the agent registered with; an agent without one is an error.',
  options: {},
  optionHelp: [],
  args: { min: 1, max: 1 },
  examples: ['agent-registry card planner-7'],
  remote: true,
  async run({ args, client, out }) {
    out(prettyJson(await client().card(args[0])));
    return EXIT.ok;
  },
};
