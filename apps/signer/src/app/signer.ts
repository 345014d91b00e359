import type { NestExpressApplication } from '@nestjs/platform-express';
import { createHttpApp } from '@signet/service';
import { SignerConfig } from './signer.config';
import { SignerModule } from './signer.module';

/**
 * The signer process: BullMQ workers plus a plain-HTTP port for /healthz, /readyz and /metrics.
 * It has no public API; the health port is for the orchestrator only.
 */
export function createSigner(config: SignerConfig): Promise<NestExpressApplication> {
  return createHttpApp(SignerModule.forRoot(config), { app: 'signer', bodyLimitBytes: 16 * 1024 });
}
