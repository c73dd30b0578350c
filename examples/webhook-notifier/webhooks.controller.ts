import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access, ApiProblemResponse } from '../../src/extending';
import { CreateWebhookRequest, Webhook } from './webhook.dto';
import { WebhookSubscriptions } from './webhook-subscriptions';

/** Managing where the registry's events are sent: admin keys only. */
@ApiTags('webhooks')
@Access('admin')
@Controller('webhooks')
export class WebhooksController {
  constructor(private readonly subscriptions: WebhookSubscriptions) {}

  @ApiOperation({ operationId: 'createWebhook', summary: "Send the registry's events to a URL" })
  @Post()
  @ApiCreatedResponse({ type: Webhook, description: 'The subscription.' })
  @ApiProblemResponse(400, 'An invalid URL or event type.', { detail: 'Invalid request: url must be a URL address' })
  create(@Body() request: CreateWebhookRequest): Promise<Webhook> {
    return this.subscriptions.create(request);
  }

  @ApiOperation({ operationId: 'listWebhooks', summary: 'List the webhook subscriptions' })
  @Get()
  @ApiOkResponse({ type: Webhook, isArray: true, description: 'Every subscription, oldest first.' })
  list(): Promise<Webhook[]> {
    return this.subscriptions.list();
  }

  @ApiOperation({ operationId: 'deleteWebhook', summary: 'Stop sending events to a URL' })
  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiProblemResponse(404, 'No such subscription.', {
    detail: 'Webhook not found: 0b7c4c52-7f1e-4a53-9d64-3f0c2b1d9e10',
  })
  remove(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    return this.subscriptions.remove(id);
  }
}
