import { Command, prettyJson } from '../command.js';
import { EXIT } from '../exit-codes.js';

export const deregister: Command = {
  name: 'deregister',
  usage: 'deregister <id> [--json]',
  summary: 'Remove an agent from the registry',
  description:
    'Removes the agent at once (watchers see a "deregistered" event). Needs an agent key that owns it, or an admin key.',
  options: { json: { type: 'boolean' } },
  optionHelp: [['--json', "The registry's answer as JSON"]],
  args: { min: 1, max: 1 },
  examples: ['agent-registry deregister planner-7'],
  remote: true,
  async run({ args, values, client, out }) {
    const answer = await client().deregister(args[0]);
    out(values.json === true ? prettyJson(answer) : `Deregistered ${answer.agent_id}.`);
    return EXIT.ok;
  },
};
