import { Module } from '@nestjs/common';
import { ApprovalsModule } from '../approvals/approvals.module';
import { CasModule } from '../cas/cas.module';
import { CertificatesController } from './certificates.controller';
import { CertificatesService } from './certificates.service';
import { IssuanceModule } from './issuance.module';

/** Certificates: issue, batch, list, read, download, renew, revoke, stats. */
@Module({ imports: [CasModule, IssuanceModule, ApprovalsModule], controllers: [CertificatesController], providers: [CertificatesService] })
export class CertificatesModule {}
