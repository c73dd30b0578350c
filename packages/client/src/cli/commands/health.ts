import { RegistryError } from '../../index.js';
import { Command, prettyJson } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { healthLine, readinessLine } from '../format.js';

export const health: Command = {
  name: 'health',
  usage: 'health [--ready] [--json]',
  summary: 'Whether the registry and its database are up',
  description:
    'Asks GET /health (status, database, agent counts; needs a reader key when keys are on), or with --ready the\n' +
    'readiness probe GET /health/ready (open without a key by default). Exits 1 when the registry is not healthy\n' +
    '(not ready), so it fits a script or a container health check.',
  options: { ready: { type: 'boolean' }, json: { type: 'boolean' } },
  optionHelp: [
    ['--ready', 'The readiness probe, GET /health/ready'],
    ['--json', "The registry's answer as JSON"],
  ],
  args: { min: 0, max: 0 },
  examples: ['agent-registry health', 'agent-registry health --ready || echo "not ready"'],
  remote: true,
  async run({ values, client, out }) {
    const ready = values.ready === true;
    let body: unknown;
    let healthy = true;
    try {
      body = await (await client().request('GET', ready ? '/health/ready' : '/health')).json();
    } catch (error) {
      // A 503 is the registry saying it is not healthy: its body is the health document.
      if (!(error instanceof RegistryError && error.status === 503 && error.problem)) throw error;
      body = error.problem;
      healthy = false;
    }
    if (values.json === true) out(prettyJson(body));
    else
      out(
        ready
          ? readinessLine(body as Parameters<typeof readinessLine>[0])
          : healthLine(body as Parameters<typeof healthLine>[0]),
      );
    return healthy ? EXIT.ok : EXIT.failed;
  },
};
