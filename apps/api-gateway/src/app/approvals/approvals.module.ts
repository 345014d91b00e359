import { Module } from '@nestjs/common';
import { IssuanceModule } from '../certificates/issuance.module';
import { ApprovalsController } from './approvals.controller';
import { ApprovalsService } from './approvals.service';

/** Four-eyes issuance (API.md section 6). */
@Module({ imports: [IssuanceModule], controllers: [ApprovalsController], providers: [ApprovalsService], exports: [ApprovalsService] })
export class ApprovalsModule {}
