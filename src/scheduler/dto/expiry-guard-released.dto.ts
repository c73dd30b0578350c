/** The mass-expiry guard after a release. */
export class ExpiryGuardReleased {
  /**
   * Whether any hold remains: always false after releasing them all; after releasing one key, true while other
   * keys' agents (or the whole registry) are still held.
   * @example false
   */
  engaged!: boolean;
}
