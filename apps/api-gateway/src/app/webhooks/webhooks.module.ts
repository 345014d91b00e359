import { Module } from '@nestjs/common';
import { WebhookDeliveries } from './webhook-deliveries.queue';
import { WebhookDispatcher } from './webhook-dispatcher';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

/** Webhooks (API.md section 9): endpoints, the dispatcher of events and expiry notices, and the deliverer. */
@Module({
  controllers: [WebhooksController],
  providers: [WebhooksService, WebhookDeliveries, WebhookDispatcher],
})
export class WebhooksModule {}
