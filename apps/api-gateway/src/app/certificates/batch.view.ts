/**
 * The documented shapes of POST /certificates/batch. batch.ts validates the request (BatchIssueDto)
 * and each item; these classes say what the two request forms and the answer look like.
 */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CertificateWithPemView } from './certificate.view';
import { IssueCertificateDto } from './issue-certificate.dto';
import { ApprovalView } from '../approvals/approval.dto';

const MAX_ITEMS = 1000;

/** `{items: [issue request, ...]}`: each item as for POST /certificates, validated on its own. */
export class BatchItemsRequestView {
  @ApiProperty({ type: () => [IssueCertificateDto], maxItems: MAX_ITEMS, description: 'issue requests, as for POST /certificates; a bad one fails alone' })
  items: IssueCertificateDto[];
}

/** CertMate's form: `{caId, headers: [...], rows: [[...], ...]}`, one issue request per row. */
export class BatchRowsRequestView {
  @ApiPropertyOptional({ format: 'uuid', description: 'the CA of every row without a caId column' }) caId?: string;

  @ApiProperty({
    type: [String],
    maxItems: 40,
    example: ['common_name', 'email', 'organization', 'organizational_unit', 'cert_usage', 'days_valid'],
    description: 'one per column: issue-request field names (commonName, sanDns, ...; snake_case too: san_dns), CertMate\'s ' +
      '(common_name -> commonName, email -> subject.email, organization -> subject.organization, organizational_unit -> subject.organizationalUnit, ' +
      'cert_usage -> usage, days_valid -> validityDays), and subject fields bare or dotted (organization, subject.organization, country, state, locality, email). ' +
      'List fields (sanDns, ...) split on ; , or spaces',
  })
  headers: string[];

  @ApiProperty({
    type: 'array',
    maxItems: MAX_ITEMS,
    items: { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] } },
    example: [['www.example.com', 'ops@example.com', 'Acme Corp', 'Web', 'server', '90']],
  })
  rows: unknown[][];
}

export class BatchItemErrorView {
  @ApiProperty({ description: 'position of the item (or row), from 0' }) index: number;
  @ApiProperty({ description: 'the refusal, as the single request would have it' }) error: string;
  @ApiProperty({ example: 'validation_failed', description: 'an Error code' }) code: string;
}

export class BatchIssuedItemView {
  @ApiProperty({ description: 'position of the item (or row), from 0' }) index: number;
  @ApiProperty({ type: () => CertificateWithPemView }) certificate: CertificateWithPemView;
  @ApiPropertyOptional({ description: 'PKCS#8 PEM, managed items only' }) privateKey?: string;
}

export class BatchPendingItemView {
  @ApiProperty({ description: 'position of the item (or row), from 0' }) index: number;
  @ApiProperty({ type: () => ApprovalView, description: 'the request waiting for approval (its profile has requireApproval)' }) approval: ApprovalView;
}

/** 201 `{total, successful, failed, errors, certificates}`: one bad item never sinks the others. */
export class BatchIssueResultView {
  @ApiProperty() total: number;
  @ApiProperty() successful: number;
  @ApiProperty() failed: number;
  @ApiProperty({ type: () => [BatchItemErrorView] }) errors: BatchItemErrorView[];
  @ApiProperty({ type: () => [BatchIssuedItemView] }) certificates: BatchIssuedItemView[];
  @ApiPropertyOptional({ type: () => [BatchPendingItemView], description: 'items waiting for approval: neither issued nor failed' }) pending?: BatchPendingItemView[];
}
