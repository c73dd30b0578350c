import { errorSummary, RegistryError, WatchState, WatchUpdate } from '../../index.js';
import { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { filterHelp, filterOf, filterOptions } from '../filters.js';
import { agentTable, eventLine } from '../format.js';

export const watch: Command = {
  name: 'watch',
  usage: 'watch [options]',
  summary: 'The agents that match, then every change to them, until Ctrl-C',
  description:
    'Lists the agents that match (dead ones not yet removed included), then prints each change as it comes:\n' +
    'registered, updated, deregistered, expired. A dropped connection is resumed where it stopped; events past the\n' +
    "registry's retention make it list again. Ctrl-C (SIGINT) or SIGTERM ends it with status 0.",
  options: { ...filterOptions, json: { type: 'boolean' } },
  optionHelp: [
    ...filterHelp,
    ['--json', 'One JSON object a line: {"type":"snapshot","agents":[…],"revision"} then {"type":"event","event":{…}}'],
  ],
  args: { min: 0, max: 0 },
  examples: ['agent-registry watch --capability planning', 'agent-registry watch --json | jq .event.type'],
  remote: true,
  async run({ values, client, out, err }) {
    const filter = filterOf(values);
    const json = values.json === true;
    const registry = client();
    let started = false;
    let lost = false;
    let fatal: { error: unknown } | undefined;
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));

    const show = (update: WatchUpdate) => {
      if (json) return out(JSON.stringify(update));
      if (update.type === 'event') return out(eventLine(update.event));
      if (started) err("Events were missed (past the registry's retention); the agents that match now:");
      if (update.agents.length > 0) agentTable(update.agents, Date.now()).forEach((line) => out(line));
      else err('No agents match yet.');
      if (!started) err(`Watching for changes from revision ${update.revision}; Ctrl-C to stop.`);
    };
    const onError = (error: unknown) => {
      // Before the first list, or for an answer that will not change by retrying (a bad filter, a refused key),
      // give up; otherwise the watch resumes by itself.
      if (!started || isPermanent(error)) {
        fatal = { error };
        stop();
      }
    };
    // A line when the registry is lost and one when it is back, not one per retry.
    const onState = (state: WatchState, error?: unknown) => {
      if (fatal || !started) return;
      if (state === 'retrying') {
        lost = true;
        err(`Lost the registry: ${errorSummary(error).replace(/\.$/, '')}; retrying.`);
      } else if (state === 'active' && lost) {
        lost = false;
        err(`The registry is back; watching from revision ${running.revision}.`);
      }
    };

    const running = registry.watch(
      filter,
      (update) => {
        show(update);
        started = true;
      },
      { onError, onState },
    );
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await Promise.race([stopped, running.done]);
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await running.close();
    }
    if (fatal) throw fatal.error;
    return EXIT.ok;
  },
};

function isPermanent(error: unknown): boolean {
  return (
    error instanceof RegistryError && error.status >= 400 && error.status < 500 && ![408, 429].includes(error.status)
  );
}
