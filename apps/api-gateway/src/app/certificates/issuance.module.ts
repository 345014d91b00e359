import { Module } from '@nestjs/common';
import { CasModule } from '../cas/cas.module';
import { IssuanceService } from './issuance.service';

/** The one path to the signer for issuance (REST issue, batch, renew, approvals). */
@Module({ imports: [CasModule], providers: [IssuanceService], exports: [IssuanceService] })
export class IssuanceModule {}
