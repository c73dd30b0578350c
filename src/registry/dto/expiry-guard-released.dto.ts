/** The mass-expiry guard after a release. */
export class ExpiryGuardReleased {
  /**
   * Always false: the next cleanup run deletes the agents that expired.
   * @example false
   */
  engaged!: boolean;
}
