import { DynamicModule, Module } from '@nestjs/common';
import { certificatesById, createDataSourceOptions } from '@signet/persistence';
import { Clock, HealthModule, IssuanceBatcher, RedisModule, SignerClient, databaseModule, loggerModule } from '@signet/service';
import { DataSource } from 'typeorm';
import { getDataSourceToken } from '@nestjs/typeorm';
import { AccessModule } from './access/access.module';
import { ApiKeysController } from './api-keys/api-keys.controller';
import { ApiKeysService } from './api-keys/api-keys.service';
import { AuditController } from './audit/audit.controller';
import { AuditService } from './audit/audit.service';
import { CasController } from './cas/cas.controller';
import { CasService } from './cas/cas.service';
import { CertificatesController } from './certificates/certificates.controller';
import { CertificatesService } from './certificates/certificates.service';
import { IssuanceService } from './certificates/issuance.service';
import { ApprovalsController } from './approvals/approvals.controller';
import { ApprovalsService } from './approvals/approvals.service';
import { PkiStore } from './pki/pki-store';
import { EnrollmentPoliciesController } from './enrollment/enrollment-policies.controller';
import { EnrollmentPoliciesService } from './enrollment/enrollment-policies.service';
import { OcspStatusController } from './pki/ocsp-status.controller';
import { GATEWAY_CONFIG } from './gateway-config.token';
import { GatewayConfig } from './gateway.config';
import { OrgDirectory } from './identity/org-directory';
import { WhoamiController } from './identity/whoami.controller';
import { OrgsService } from './platform/orgs.service';
import { PlatformController } from './platform/platform.controller';
import { ProfilesController } from './profiles/profiles.controller';
import { ProfilesService } from './profiles/profiles.service';

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
      ],
      controllers: [PlatformController, ApiKeysController, WhoamiController, AuditController, CasController, CertificatesController, ApprovalsController, OcspStatusController, EnrollmentPoliciesController, ProfilesController],
      providers: [{ provide: GATEWAY_CONFIG, useValue: config }, AuditService, ApiKeysService, OrgsService, OrgDirectory, CasService, { provide: SignerClient, useFactory: (c: GatewayConfig) => new SignerClient(c), inject: [GATEWAY_CONFIG] }, {
          provide: IssuanceBatcher,
          useFactory: (signer: SignerClient, c: GatewayConfig, dataSource: DataSource) =>
            new IssuanceBatcher(signer, { ms: c.ISSUE_COALESCE_MS, max: c.ISSUE_COALESCE_MAX }, (ids) => certificatesById(dataSource.manager, ids)),
          inject: [SignerClient, GATEWAY_CONFIG, getDataSourceToken()],
        },
        CertificatesService, IssuanceService, ApprovalsService, Clock, PkiStore, EnrollmentPoliciesService, ProfilesService],
      exports: [GATEWAY_CONFIG, AuditService],
    };
  }
}
