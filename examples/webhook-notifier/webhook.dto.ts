import { ApiProperty } from '@nestjs/swagger';
import { ArrayUnique, IsArray, IsIn, IsOptional, IsUrl, MaxLength } from 'class-validator';
import { RegistryEventType } from '../../src/extending';

export const EVENT_TYPES: readonly RegistryEventType[] = ['registered', 'updated', 'deregistered', 'expired'];

/** `POST /webhooks`: where to send the registry's events, and which. */
export class CreateWebhookRequest {
  @ApiProperty({
    description: 'An http(s) URL the events are POSTed to, as JSON.',
    example: 'https://hooks.example/registry',
  })
  @MaxLength(2048)
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  url!: string;

  @ApiProperty({
    description: 'The event types to send; absent or empty: all of them.',
    enum: EVENT_TYPES,
    isArray: true,
    required: false,
    example: ['registered', 'expired'],
  })
  @IsOptional()
  @IsArray()
  @ArrayUnique()
  @IsIn(EVENT_TYPES, { each: true })
  events?: RegistryEventType[];
}

/** A subscription, as the webhook routes answer it. */
export class Webhook {
  @ApiProperty({ format: 'uuid', example: '0b7c4c52-7f1e-4a53-9d64-3f0c2b1d9e10' })
  id!: string;

  @ApiProperty({ example: 'https://hooks.example/registry' })
  url!: string;

  @ApiProperty({ enum: EVENT_TYPES, isArray: true, description: 'Empty: all of them.', example: ['registered'] })
  events!: RegistryEventType[];

  @ApiProperty({ format: 'date-time' })
  created_at!: string;
}
