import { Module } from '@nestjs/common';
import { DashboardController } from './dashboard.controller';
import { DashboardFiles } from './dashboard-files';

/** GET / : a page that lists and watches the registry through its own API (see README, Dashboard). */
@Module({
  controllers: [DashboardController],
  providers: [{ provide: DashboardFiles, useFactory: () => new DashboardFiles() }],
})
export class DashboardModule {}
