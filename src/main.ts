import { loadConfig } from './app.config';
import { startRegistry } from './bootstrap';
import { ConfigError } from './config/environment';

/** `npm start`: the plain registry. A build with extension modules calls startRegistry with them (docs/extending.md). */
async function main(): Promise<void> {
  await startRegistry(loadConfig());
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
  } else {
    console.error('The agent registry failed to start:', error);
  }
  process.exit(1);
});
