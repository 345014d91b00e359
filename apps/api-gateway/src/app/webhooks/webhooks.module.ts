import { Logger, Module } from '@nestjs/common';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import { WebhookDeliveries } from './webhook-deliveries.queue';
import { WebhookDispatcher } from './webhook-dispatcher';
import { WebhookSecretBox } from './webhook-secrets';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

/** Webhooks (API.md section 9): endpoints, the dispatcher of events and expiry notices, and the deliverer. */
@Module({
  controllers: [WebhooksController],
  providers: [
    {
      provide: WebhookSecretBox,
      useFactory: (config: GatewayConfig) => {
        if (!config.WEBHOOK_SECRET_KEY) new Logger('Webhooks').warn('WEBHOOK_SECRET_KEY is unset: webhook secrets are encrypted under a key derived from PLATFORM_ADMIN_KEY (changing that key then makes them unreadable)');
        return new WebhookSecretBox(config);
      },
      inject: [GATEWAY_CONFIG],
    },
    WebhooksService, WebhookDeliveries, WebhookDispatcher,
  ],
})
export class WebhooksModule {}
