#!/usr/bin/env node
/**
 * `agent-registry <command>` (the package's bin): the registry from a terminal, on src/client. It imports nothing from
 * the server, so it starts fast and does nothing but what it is asked.
 */
import { run } from './run';

// `agent-registry list | head` closes stdout early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

void run(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
}).then((code) => {
  process.exitCode = code;
});
