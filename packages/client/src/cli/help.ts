import { Command, Options } from './command.js';
import { columns } from './format.js';

export const BIN = 'agent-registry';
export const DEFAULT_URL = 'http://localhost:3000';

/** The options every command takes. */
export const globalOptions: Options = {
  url: { type: 'string' },
  key: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const globalHelp: [string, string][] = [
  ['--url <url>', `The registry (default: $AGENT_REGISTRY_URL, else ${DEFAULT_URL})`],
  ['--key <key>', 'An API key, sent as "Authorization: Bearer <key>" (default: $AGENT_REGISTRY_KEY,'],
  ['', 'which stays out of ps and shell history)'],
  ['-h, --help', 'Help for the command'],
];

const exitHelp: [string, string][] = [
  ['0', 'done'],
  ['1', 'the registry answered with an error (unknown agent, refused key, bad filter) or is not healthy'],
  ['2', 'the command line is wrong (unknown command or option, missing argument, bad value)'],
  ['3', 'the registry cannot be reached (connection refused, unknown host, no answer)'],
];

const indent = (lines: string[]) => lines.map((line) => `  ${line}`);

export function overview(commands: Command[]): string {
  return [
    `${BIN}: find, watch and manage the agents in an agent registry.`,
    '',
    `Usage: ${BIN} <command> [options]`,
    '',
    'Commands:',
    ...indent(columns([...commands.map((c) => [c.usage, c.summary]), ['help [command]', "This help, or a command's"]])),
    '',
    'Options for every command:',
    ...indent(columns(globalHelp)),
    '',
    'Exit status:',
    ...indent(columns(exitHelp)),
    '',
    `Run "${BIN} help <command>" (or "${BIN} <command> --help") for a command's options.`,
  ].join('\n');
}

export function commandHelp(command: Command): string {
  return [
    `Usage: ${BIN} ${command.usage}`,
    '',
    command.summary + '.',
    '',
    command.description,
    '',
    ...(command.optionHelp.length > 0 ? ['Options:', ...indent(columns(command.optionHelp)), ''] : []),
    ...(command.remote ? ['Options for every command:', ...indent(columns(globalHelp)), ''] : []),
    'Examples:',
    ...indent(command.examples),
    '',
    'Exit status:',
    ...indent(columns(exitHelp)),
  ].join('\n');
}
