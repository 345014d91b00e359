import { Module } from '@nestjs/common';
import { ApprovalsModule } from '../approvals/approvals.module';
import { DeployTargetsModule } from '../agents/deploy-targets.service';
import { CasModule } from '../cas/cas.module';
import { CertificateBundlesController } from './certificate-bundles.controller';
import { CertificateBundlesService } from './certificate-bundles.service';
import { CertificatesController } from './certificates.controller';
import { CertificatesService } from './certificates.service';
import { IssuanceModule } from './issuance.module';
import { RenewalMethods } from './renewal-methods';

/** Certificates: issue, batch, list, read, download, renew, revoke, stats; bundles from elsewhere validated. */
@Module({ imports: [CasModule, IssuanceModule, ApprovalsModule, DeployTargetsModule], controllers: [CertificateBundlesController, CertificatesController], providers: [CertificatesService, CertificateBundlesService, RenewalMethods], exports: [CertificateBundlesService] })
export class CertificatesModule {}
