import { Inject, Injectable } from '@nestjs/common';
import {
  LABELS_MAX,
  RegisterAgentRequest,
  RegistrationContext,
  RegistrationPolicy,
  RegistrationRefusedException,
} from '../../src/extending';

/** How the policy is configured (TeamLabelPolicyModule.forRoot). */
export interface TeamLabelOptions {
  /**
   * Teams by API key name: an agent registered without a `team` label by one of these keys gets the key's team.
   * Any other registration without one is refused.
   */
  teamsByKey?: Record<string, string>;
}

export const TEAM_LABEL_OPTIONS = Symbol('team-label-policy:options');

export const MISSING_TEAM_DETAIL =
  'Every agent needs a "team" label: register it with "labels": {"team": "<your team>"}.';

export const NO_ROOM_DETAIL =
  `Every agent needs a "team" label, and this one has the most labels an agent may have (${LABELS_MAX}): ` +
  'replace one of them with "team".';

/**
 * Every agent carries a `team` label: kept when the registration has one, added from the caller's key when the key is
 * mapped to a team (and the agent has room for one more label), refused with 422 otherwise.
 */
@RegistrationPolicy({ order: 100 })
@Injectable()
export class TeamLabelPolicy implements RegistrationPolicy {
  constructor(@Inject(TEAM_LABEL_OPTIONS) private readonly options: TeamLabelOptions) {}

  review(registration: RegisterAgentRequest, { caller }: RegistrationContext): RegisterAgentRequest | void {
    if (registration.labels?.team) return;
    const team = caller && this.options.teamsByKey?.[caller.name];
    if (!team) throw new RegistrationRefusedException(MISSING_TEAM_DETAIL);
    // An amendment must keep the rules of the request body (an invalid one is the policy's bug: a 500).
    if (Object.keys(registration.labels ?? {}).length >= LABELS_MAX)
      throw new RegistrationRefusedException(NO_ROOM_DETAIL);
    return { ...registration, labels: { ...registration.labels, team } };
  }
}
