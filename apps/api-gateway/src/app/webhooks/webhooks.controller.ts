import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator';
import { CurrentCaller, CurrentPrincipal, OrgCaller } from '../access/caller';
import type { OrgPrincipal } from '../access/principal';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { Audited } from '../audit/audited.decorator';
import { PageQueryDto } from '../paging';
import { RESOURCE_ID } from '../resource-id.pipe';
import {
  CreateWebhookDto, CreatedWebhookView, DeliveryEnvelopeView, DeliveryPageView, ListDeliveriesDto, UpdateWebhookDto, WebhookEnvelopeView, WebhookPageView,
} from './webhook.dto';
import { WebhooksService } from './webhooks.service';

const DELIVERY_FORMAT =
  'Each delivery is a POST of `{id, event, createdAt, orgId, data}` with `Signet-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` keyed with the secret; ' +
  'a 2xx within 10 s is delivered, anything else is retried with backoff for 24 h with the same `id`.';

@ApiTags('webhooks')
@ApiBearerAuth('apiKey')
@Controller('api/v1/webhooks')
@ApiErrors(403)
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @Access('orgAdmin')
  @Audited('webhook.create', 'webhook')
  @ApiOperation({
    summary: 'Send events of the org to a URL',
    description: `The signing secret is in this answer only. ${DELIVERY_FORMAT} 400 validation_failed names each bad field (url: http(s) without credentials; events: from the list); 409 when the org has 100 webhooks.`,
  })
  @ApiCreatedResponse({ type: CreatedWebhookView })
  @ApiErrors(...BODY_ERRORS, 409)
  create(@CurrentCaller() caller: OrgCaller, @Body() dto: CreateWebhookDto) {
    return this.webhooks.create(caller, dto);
  }

  @Get()
  @Access('orgAdmin')
  @ApiOperation({ summary: "The org's webhooks, oldest first (never their secrets)" })
  @ApiOkResponse({ type: WebhookPageView })
  list(@CurrentPrincipal() principal: OrgPrincipal, @Query() q: PageQueryDto) {
    return this.webhooks.list(principal, q);
  }

  @Get(':id')
  @Access('orgAdmin')
  @ApiOperation({ summary: 'One webhook of the org' })
  @ApiOkResponse({ type: WebhookEnvelopeView })
  @ApiErrors(404)
  get(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string) {
    return this.webhooks.get(principal, id);
  }

  @Patch(':id')
  @Access('orgAdmin')
  @Audited('webhook.update', 'webhook')
  @ApiOperation({ summary: 'Change url, events, description or enabled (false: no new deliveries; pending ones are given up)' })
  @ApiOkResponse({ type: WebhookEnvelopeView })
  @ApiErrors(...BODY_ERRORS, 404)
  update(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Body() dto: UpdateWebhookDto) {
    return this.webhooks.update(caller, id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @Access('orgAdmin')
  @Audited('webhook.delete', 'webhook')
  @ApiOperation({ summary: 'Delete a webhook and its delivery log; nothing more is sent to it' })
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiErrors(404)
  async remove(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string) {
    await this.webhooks.remove(caller, id);
  }

  @Post(':id/test')
  @HttpCode(202)
  @Access('orgAdmin')
  @Audited('webhook.test', 'webhook')
  @ApiOperation({ summary: 'Send a `ping` delivery now (signed, retried and logged like any other)', description: 'Answers at once with the delivery, pending; follow it in GET /api/v1/webhooks/{id}/deliveries.' })
  @ApiAcceptedResponse({ type: DeliveryEnvelopeView })
  @ApiErrors(404)
  test(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string) {
    return this.webhooks.test(caller, id);
  }

  @Get(':id/deliveries')
  @Access('orgAdmin')
  @ApiOperation({ summary: "The webhook's deliveries, newest first (kept 30 days once settled)" })
  @ApiOkResponse({ type: DeliveryPageView })
  @ApiErrors(404)
  deliveries(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string, @Query() q: ListDeliveriesDto) {
    return this.webhooks.deliveriesOf(principal, id, q);
  }
}
