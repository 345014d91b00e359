/**
 * The gateway: infrastructure (config, logging, PostgreSQL, Redis, the signer queue, the clock) here,
 * global; each feature in a module of its own beside its controller and services.
 */
import { DynamicModule, Logger, Module } from '@nestjs/common';
import { createDataSourceOptions, issuedRowOf } from '@signet/persistence';
import { Clock, HealthModule, IssuanceBatcher, RedisModule, SignerClient, databaseModule, loggerModule } from '@signet/service';
import { AccessModule } from './access/access.module';
import { AcmeModule } from './acme/acme.module';
import { AgentsModule } from './agents/agents.module';
import { ApiKeysModule } from './api-keys/api-keys.module';
import { ApprovalsModule } from './approvals/approvals.module';
import { AuditModule } from './audit/audit.module';
import { CasModule } from './cas/cas.module';
import { CertificatesModule } from './certificates/certificates.module';
import { EnrollmentModule } from './enrollment/enrollment.module';
import { ExternalAcmeModule } from './external-acme/external-acme.module';
import { GATEWAY_CONFIG } from './gateway-config.token';
import { GatewayConfig } from './gateway.config';
import { GatewaySecretBox } from './gateway-secrets';
import { IdentityModule } from './identity/identity.module';
import { PkiModule } from './pki/pki.module';
import { PlatformModule } from './platform/platform.module';
import { ProfilesModule } from './profiles/profiles.module';
import { WebhooksModule } from './webhooks/webhooks.module';

export { GATEWAY_CONFIG };

@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: AppModule,
      global: true,
      imports: [
        loggerModule('api-gateway', config.LOG_LEVEL),
        databaseModule(
          createDataSourceOptions(config.DATABASE_URL, { poolSize: config.DATABASE_POOL_SIZE, applicationName: 'signet-gateway' }),
        ),
        RedisModule.forRoot(config.REDIS_URL, 'signet-gateway'),
        HealthModule,
        AccessModule,
        AuditModule,
        PlatformModule,
        ApiKeysModule,
        IdentityModule,
        PkiModule,
        CasModule,
        CertificatesModule,
        ApprovalsModule,
        EnrollmentModule,
        ProfilesModule,
        AcmeModule,
        WebhooksModule,
        AgentsModule,
        ExternalAcmeModule,
      ],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: SignerClient, useFactory: (c: GatewayConfig) => new SignerClient(c), inject: [GATEWAY_CONFIG] },
        {
          provide: IssuanceBatcher,
          useFactory: (signer: SignerClient, c: GatewayConfig) => new IssuanceBatcher(signer, { ms: c.ISSUE_COALESCE_MS, max: c.ISSUE_COALESCE_MAX }, issuedRowOf),
          inject: [SignerClient, GATEWAY_CONFIG],
        },
        Clock,
        {
          provide: GatewaySecretBox,
          useFactory: (c: GatewayConfig) => {
            if (!c.WEBHOOK_SECRET_KEY) new Logger('GatewaySecrets').warn('WEBHOOK_SECRET_KEY is unset: webhook secrets, outside ACME account keys and DNS credentials are encrypted under a key derived from PLATFORM_ADMIN_KEY (changing that key then makes them unreadable)');
            return new GatewaySecretBox(c);
          },
          inject: [GATEWAY_CONFIG],
        },
      ],
      exports: [GATEWAY_CONFIG, SignerClient, IssuanceBatcher, Clock, GatewaySecretBox],
    };
  }
}
