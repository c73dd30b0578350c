/**
 * `agent-registry <command>` (the package's bin, through bin/agent-registry.cjs): the registry from a terminal, on the
 * client beside it. It imports nothing from the server, so it starts fast and does nothing but what it is asked.
 */
import { run } from './run.js';

// `agent-registry list | head` closes stdout early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

// fetch can wait forever on a connection the peer accepted and closed at once, and the client's request timeout does not
// keep a process alive by itself: without this, such a command would end with status 0 and nothing said. With it, the
// timeout ends the request and the command reports it (status 3).
const alive = setInterval(() => undefined, 60_000);

void run(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
})
  .then((code) => {
    process.exitCode = code;
  })
  .finally(() => clearInterval(alive));
