import { DynamicModule, Module } from '@nestjs/common';
import { TEAM_LABEL_OPTIONS, TeamLabelOptions, TeamLabelPolicy } from './team-label.policy';

/** Every agent must carry a `team` label (see TeamLabelPolicy). */
@Module({})
export class TeamLabelPolicyModule {
  static forRoot(options: TeamLabelOptions = {}): DynamicModule {
    return {
      module: TeamLabelPolicyModule,
      providers: [{ provide: TEAM_LABEL_OPTIONS, useValue: options }, TeamLabelPolicy],
    };
  }
}
