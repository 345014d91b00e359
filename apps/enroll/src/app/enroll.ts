import type { NestExpressApplication } from '@nestjs/platform-express';
import { createHttpApp } from '@signet/service';
import { EnrollConfig } from './enroll.config';
import { EnrollModule } from './enroll.module';

/** The enroll process's plain-HTTP side: /healthz, /readyz and /metrics on ENROLL_HEALTH_PORT. */
export function createEnrollHealthApp(config: EnrollConfig): Promise<NestExpressApplication> {
  return createHttpApp(EnrollModule.forRoot(config), { app: 'enroll', bodyLimitBytes: 16 * 1024 });
}
