import { Body, Controller, Get, Param, ParseUUIDPipe, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator';
import type { OrgPrincipal } from '../access/principal';
import { Audited } from '../audit/audited.decorator';
import { RateLimit } from '../rate-limit/rate-limit.decorator';
import type { GatewayRequest } from '../request-context';
import { CertificatesService } from './certificates.service';
import { IssueCertificateDto } from './issue-certificate.dto';
import { ListCertificatesQueryDto } from './list-certificates.dto';

@ApiTags('certificates')
@ApiBearerAuth('apiKey')
@Controller('api/v1/certificates')
export class CertificatesController {
  constructor(private readonly certificates: CertificatesService) {}

  @Post()
  @Access({ ca: 'issue', from: 'body.caId' })
  @RateLimit('issue')
  @Audited('certificate.issue', 'certificate')
  @ApiOperation({ summary: 'Issue a certificate (managed: the signer makes the key; csr: from your PKCS#10)' })
  issue(@Req() req: GatewayRequest, @Body() dto: IssueCertificateDto) {
    return this.certificates.issue(req, dto);
  }

  @Get()
  @Access('orgKey')
  @ApiOperation({ summary: 'Certificates with filters, search, sort and pages (a member sees those of CAs it may read)' })
  list(@Req() req: GatewayRequest, @Query() q: ListCertificatesQueryDto) {
    return this.certificates.list(req.principal as OrgPrincipal, q);
  }

  @Get(':id')
  @Access('orgKey')
  @Audited('certificate.get', 'certificate')
  @ApiOperation({ summary: 'One certificate with its PEM and chain' })
  get(@Req() req: GatewayRequest, @Param('id', new ParseUUIDPipe()) id: string) {
    return this.certificates.get(req.principal as OrgPrincipal, id);
  }
}
