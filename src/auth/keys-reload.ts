import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, ConfigError, readSections } from '../config/environment';
import { AuthConfig, authSection, AuthSection } from './auth.config';

/**
 * Key rotation without a restart: on SIGHUP the registry reads REGISTRY_API_KEYS_FILE again (with REGISTRY_API_KEYS,
 * as at boot: only the auth section, the rest of the environment has not changed) and, if every line is valid and
 * some key is left, serves with the new keys from the next request on. A file with any bad line, or with no key at
 * all (which would drop the registry into protected mode), changes nothing: the error is logged and the keys it had
 * stay. Only listens when a keys file is configured; the process does it for itself (main.ts), not the tests'
 * in-process apps, whose configuration is not the environment's.
 */
@Injectable()
export class KeysFileReload implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Auth');
  private readonly onSignal = () => this.reload();

  constructor(@Inject(APP_CONFIG) private readonly config: AuthSection) {}

  onApplicationBootstrap(): void {
    if (this.config.auth.keysFile !== undefined) process.on('SIGHUP', this.onSignal);
  }

  onApplicationShutdown(): void {
    process.off('SIGHUP', this.onSignal);
  }

  /** Re-reads the keys; returns whether the new ones are in force. */
  reload(env: NodeJS.ProcessEnv = process.env): boolean {
    const file = this.config.auth.keysFile;
    let fresh: AuthConfig;
    try {
      fresh = readSections(env, { auth: authSection }).auth.auth;
    } catch (error) {
      const message = error instanceof ConfigError ? error.message : String(error);
      this.logger.error(
        `SIGHUP: the API keys were not reloaded, the ${this.config.auth.keys.length} in force stay. ${message}`,
      );
      return false;
    }
    if (fresh.mode !== 'keys') {
      this.logger.error(
        `SIGHUP: the API keys were not reloaded: ${file} and REGISTRY_API_KEYS now hold no key, which would open the ` +
          `registry to every local client (protected mode); the ${this.config.auth.keys.length} in force stay.`,
      );
      return false;
    }
    // In place: the guard and the docs gate hold this array.
    this.config.auth.keys.splice(0, this.config.auth.keys.length, ...fresh.keys);
    this.logger.log(
      `SIGHUP: reloaded the API keys from ${file}: ${fresh.keys.map((key) => `${key.name} (${key.role})`).join(', ')}`,
    );
    return true;
  }
}
