import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, IsUUID, Length } from 'class-validator';
import { PageQueryDto } from '../paging';
import { CertificateView } from '../certificates/certificate.view';

export const APPROVAL_LIST_STATUSES = ['pending', 'approved', 'rejected', 'expired', 'all'] as const;

export class ListApprovalsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ type: String, enum: APPROVAL_LIST_STATUSES, default: 'pending' })
  @IsOptional() @IsIn(APPROVAL_LIST_STATUSES as unknown as string[])
  status: (typeof APPROVAL_LIST_STATUSES)[number] = 'pending';

  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID() profileId?: string;
}

export class ApproveDto {
  @ApiPropertyOptional({ description: "the CA's passphrase, when it has one (it is never stored with the request)" })
  @IsOptional() @IsString() @Length(1, 1024) caPassphrase?: string;
}

export class RejectDto {
  @ApiProperty({ minLength: 1, maxLength: 1000 }) @IsString() @Length(1, 1000) reason: string;
}

class ApprovalActorView {
  @ApiProperty({ enum: ['apiKey', 'device', 'system'] }) type: string;
  @ApiProperty({ type: String, nullable: true }) id: string | null;
  @ApiProperty({ type: String, nullable: true }) name: string | null;
}

class ApprovalRequestView {
  @ApiProperty({ type: String, nullable: true }) commonName: string | null;
  @ApiProperty({ type: [String] }) sanDns: string[];
  @ApiProperty({ type: [String] }) sanIp: string[];
  @ApiProperty({ type: String, nullable: true, description: 'managed: the algorithm asked for (null: the profile default); csr: the CSR key' }) keyAlgorithm: string | null;
  @ApiProperty({ type: Number, nullable: true, description: "null: the profile's default" }) validityDays: number | null;
  @ApiProperty({ type: String, nullable: true }) usage: string | null;
  @ApiProperty({ enum: ['managed', 'csr'] }) mode: string;
}

export class ApprovalView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) profileId: string;
  @ApiProperty({ format: 'uuid' }) caId: string;
  @ApiProperty({ enum: ['pending', 'approved', 'rejected', 'expired'] }) status: string;
  @ApiProperty({ type: ApprovalRequestView }) request: ApprovalRequestView;
  @ApiProperty({ type: ApprovalActorView }) requestedBy: ApprovalActorView;
  @ApiProperty({ type: ApprovalActorView, nullable: true }) decidedBy: ApprovalActorView | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) decidedAt: string | null;
  @ApiProperty({ type: String, nullable: true }) reason: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) certificateId: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) expiresAt: string;
}

export class ApprovalEnvelopeView {
  @ApiProperty({ type: ApprovalView }) approval: ApprovalView;
}

export class ApprovedView extends ApprovalEnvelopeView {
  @ApiProperty({ type: CertificateView, description: 'the certificate issued (a managed key is fetched with download?format=key)' }) certificate: CertificateView;
}

export class ApprovalPageView {
  @ApiProperty({ type: [ApprovalView] }) approvals: ApprovalView[];
  @ApiProperty() total: number;
  @ApiProperty() page: number;
  @ApiProperty() pageSize: number;
  @ApiProperty() totalPages: number;
}
