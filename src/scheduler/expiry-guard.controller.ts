import { Controller, HttpCode, HttpStatus, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponse } from '../common/api-problem-response.decorator';
import { Access } from '../auth/access.decorator';
import { Principal } from '../auth/auth.guard';
import { Caller } from '../auth/caller.decorator';
import { ExpiryGuardReleased } from './dto/expiry-guard-released.dto';
import { ReleaseExpiryGuardQuery } from './dto/release-expiry-guard-query.dto';
import { ExpiryGuard } from './expiry-guard';

@ApiTags('admin')
@Controller('admin/expiry-guard')
export class ExpiryGuardController {
  constructor(private readonly guard: ExpiryGuard) {}

  /**
   * Releases the mass-expiry guard at once (see `/health`): every hold, or with `key` that key's agents only. The
   * next cleanup run deletes the agents whose leases ran out, and those agents do not engage the guard again.
   * Answers the same when nothing was held.
   */
  @ApiOperation({ operationId: 'releaseExpiryGuard', summary: 'Release the mass-expiry guard' })
  @Post('release')
  @Access('admin')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: ExpiryGuardReleased, description: 'The guard is released (all of it, or the key).' })
  @ApiProblemResponse(400, '`key` is not an API key name.', {
    detail: 'Invalid request: key must be an API key name',
    errors: [{ field: 'key', in: 'query', detail: 'key must be an API key name' }],
  })
  release(@Query() query: ReleaseExpiryGuardQuery, @Caller() caller?: Principal): Promise<ExpiryGuardReleased> {
    return this.guard.releaseNow(caller?.name, query.key);
  }
}
