import { IsOptional, Matches } from 'class-validator';

export class ReleaseExpiryGuardQuery {
  /**
   * Release only this key's agents (by key name); without it, every hold is released.
   * @example fleet-a
   */
  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, { message: 'key must be an API key name' })
  key?: string;
}
