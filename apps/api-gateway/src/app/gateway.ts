import type { NestExpressApplication } from '@nestjs/platform-express';
import { createHttpApp } from '@signet/service';
import { AppModule } from './app.module';
import { GatewayConfig } from './gateway.config';
import { setupOpenApi } from './openapi';

/** The gateway as an app object: main.ts listens on it, tests drive it with supertest. */
export function createGateway(config: GatewayConfig): Promise<NestExpressApplication> {
  return createHttpApp(AppModule.forRoot(config), {
    app: 'api-gateway',
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    configure: setupOpenApi,
  });
}
