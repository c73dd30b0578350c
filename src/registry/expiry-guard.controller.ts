import { Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../auth/access.decorator';
import { Principal } from '../auth/auth.guard';
import { Caller } from '../auth/caller.decorator';
import { ExpiryGuardReleased } from './dto/expiry-guard-released.dto';
import { ExpiryGuard } from './expiry-guard';

@ApiTags('admin')
@Controller('admin/expiry-guard')
export class ExpiryGuardController {
  constructor(private readonly guard: ExpiryGuard) {}

  /**
   * Releases the mass-expiry guard at once (see `/health`): the next cleanup run deletes the agents whose leases
   * ran out, and those agents do not engage the guard again. Answers the same when the guard was not engaged.
   */
  @ApiOperation({ operationId: 'releaseExpiryGuard', summary: 'Release the mass-expiry guard' })
  @Post('release')
  @Access('admin')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: ExpiryGuardReleased, description: 'The guard is released.' })
  release(@Caller() caller?: Principal): Promise<ExpiryGuardReleased> {
    return this.guard.releaseNow(caller?.name);
  }
}
