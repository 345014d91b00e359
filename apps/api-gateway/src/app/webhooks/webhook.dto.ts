/** Request bodies and answers of /api/v1/webhooks (API.md section 9). */
import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiPropertyOptions } from '@nestjs/swagger';
import type { WebhookDeliveryRow, WebhookDeliveryStatus, WebhookRow } from '@signet/persistence';
import { OptionalNotNull } from '@signet/service';
import { ArrayMaxSize, ArrayNotEmpty, IsArray, IsBoolean, IsIn, IsOptional, IsString, Matches, MaxLength, ValidateBy } from 'class-validator';
import { PageView } from '../api-docs.decorator';
import { PageQueryDto } from '../paging';
import { WEBHOOK_EVENTS } from './webhook-events';

export const MAX_URL_LENGTH = 2048;
const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'];

/** Why `value` is not a webhook URL (an absolute http(s) URL without credentials), or null when it is one. */
export function webhookUrlFault(value: unknown): string | null {
  if (typeof value !== 'string') return 'url must be a string';
  if (value.length > MAX_URL_LENGTH) return `url must be at most ${MAX_URL_LENGTH} characters`;
  // The URL parser drops tabs and line breaks silently: refuse them (and any white space) instead.
  if (/[\s\p{Cc}]/u.test(value)) return 'url must not contain white space or control characters';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'url must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'url must be an http:// or https:// URL';
  if (url.username || url.password) return 'url must not carry a user name or password (deliveries are authenticated by their signature)';
  return null;
}

const IsWebhookUrl = () =>
  ValidateBy({
    name: 'isWebhookUrl',
    validator: { validate: (value: unknown) => webhookUrlFault(value) === null, defaultMessage: (args) => webhookUrlFault(args?.value) ?? 'url is invalid' },
  });

const EVENT_NAMES: string[] = [...WEBHOOK_EVENTS];
const EVENTS_MESSAGE = `events must each be one of ${EVENT_NAMES.join(', ')}`;
const URL_DOC: ApiPropertyOptions = { format: 'uri', maxLength: MAX_URL_LENGTH, description: 'http:// or https://; deliveries POST here (redirects are not followed)' };
const EVENTS_DOC: ApiPropertyOptions = { type: [String], enum: EVENT_NAMES, description: 'the events sent to this URL (at least one)' };
const DESCRIPTION_DOC: ApiPropertyOptions = { type: String, nullable: true, maxLength: 500 };
const Events = () => applyDecorators(IsArray(), ArrayNotEmpty(), ArrayMaxSize(50), IsIn(EVENT_NAMES, { each: true, message: EVENTS_MESSAGE }));
const Description = () => applyDecorators(IsOptional(), IsString(), MaxLength(500), Matches(/^\P{Cc}*$/u, { message: 'description must be one line of text' }));

export class CreateWebhookDto {
  @ApiProperty(URL_DOC)
  @IsWebhookUrl()
  url: string;

  @ApiProperty(EVENTS_DOC)
  @Events()
  events: string[];

  @ApiPropertyOptional(DESCRIPTION_DOC)
  @Description()
  description?: string | null;
}

/** PATCH: any of the fields, and `enabled` (false stops new deliveries; pending ones are given up). */
export class UpdateWebhookDto {
  @ApiPropertyOptional(URL_DOC)
  @OptionalNotNull() @IsWebhookUrl()
  url?: string;

  @ApiPropertyOptional(EVENTS_DOC)
  @OptionalNotNull() @Events()
  events?: string[];

  @ApiPropertyOptional(DESCRIPTION_DOC)
  @Description()
  description?: string | null;

  @ApiPropertyOptional({ type: Boolean })
  @OptionalNotNull() @IsBoolean()
  enabled?: boolean;
}

export class ListDeliveriesDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: DELIVERY_STATUSES, description: 'only deliveries in this state' })
  @IsOptional() @IsIn(DELIVERY_STATUSES)
  status?: WebhookDeliveryStatus;
}

export class WebhookView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uri' }) url: string;
  @ApiProperty({ type: [String], enum: EVENT_NAMES }) events: string[];
  @ApiProperty({ type: String, nullable: true }) description: string | null;
  @ApiProperty() enabled: boolean;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}

export const webhookView = (row: WebhookRow): WebhookView => ({
  id: row.id, url: row.url, events: row.events, description: row.description, enabled: row.enabled,
  createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString(),
});

export class CreatedWebhookView {
  @ApiProperty({ type: () => WebhookView }) webhook: WebhookView;
  @ApiProperty({ description: 'the signing secret (whsec_...): shown in this answer only. Verify Signet-Signature with it.' }) secret: string;
}

export class WebhookEnvelopeView {
  @ApiProperty({ type: () => WebhookView }) webhook: WebhookView;
}

export class WebhookPageView extends PageView {
  @ApiProperty({ type: () => [WebhookView] }) webhooks: WebhookView[];
}

export class DeliveryView {
  @ApiProperty({ format: 'uuid', description: 'the `id` of the delivered body, the same on every retry' }) id: string;
  @ApiProperty({ description: 'one of the events, or `ping` for a test delivery' }) event: string;
  @ApiProperty({ enum: DELIVERY_STATUSES }) status: string;
  @ApiProperty({ type: 'integer', description: 'attempts made so far' }) attempts: number;
  @ApiProperty({ type: 'integer', nullable: true, description: "the last attempt's HTTP status; null when it got no answer" }) lastStatusCode: number | null;
  @ApiProperty({ type: String, nullable: true }) lastError: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) deliveredAt: string | null;
}

export const deliveryView = (row: WebhookDeliveryRow): DeliveryView => ({
  id: row.id, event: row.event, status: row.status, attempts: row.attempts, lastStatusCode: row.lastStatusCode, lastError: row.lastError,
  createdAt: row.createdAt.toISOString(), deliveredAt: row.deliveredAt?.toISOString() ?? null,
});

export class DeliveryEnvelopeView {
  @ApiProperty({ type: () => DeliveryView }) delivery: DeliveryView;
}

export class DeliveryPageView extends PageView {
  @ApiProperty({ type: () => [DeliveryView] }) deliveries: DeliveryView[];
}
