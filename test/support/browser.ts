import { accessSync, constants } from 'node:fs';
import { Browser, chromium } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it). playwright-core downloads no browser. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * The machine's network is closed: these keep Chromium from reaching out (and logging refused connections) for
 * updates, sync, QUIC probes and first-run pages. `--no-sandbox` because the tests run as root.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumInstalled(): boolean {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `args` adds to the flags above (`--host-resolver-rules=…` to reach a local server by another name). */
export function launchChromium(args: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...args] });
}
