/**
 * Certificate issuance and reads. The gateway validates and checks what it can cheaply (syntax, the
 * CSR's self-signature, names), then the signer does the issuing; CA keys never come here.
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { CertificateEntity } from '@signet/persistence';
import { PkiError, isPkiError, normalizeSubjectAltNames, parseCsr } from '@signet/pki';
import { IssueCertificateJob, IssueCertificateResult, SIGNER_JOBS, newRecipient, open } from '@signet/queue';
import { ApiError } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { OrgPrincipal, readableCaIds } from '../access/principal';
import { CasService } from '../cas/cas.service';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import { GatewayRequest, clientIp } from '../request-context';
import { SignerClient } from '../signer-client/signer-client';
import { certificatePem, certificateView } from './certificate.view';
import { IssueCertificateDto } from './issue-certificate.dto';
import { ListCertificatesQueryDto } from './list-certificates.dto';
import { pageOf, skipOf } from '../paging';
import { extendedKeyUsageFor } from './usage';

/** Signing-lib refusals as API errors: bad names and CSRs are the caller's to fix. */
function apiErrorOf(error: PkiError, field: string): ApiError {
  if (error.code === 'invalid_name' && /wildcard/.test(error.message)) return new ApiError('policy_violation', error.message, { field });
  if (['weak_key', 'unsupported_key', 'unsupported_algorithm'].includes(error.code)) return new ApiError('policy_violation', error.message, { field });
  return ApiError.validation([{ field, messages: [error.message] }]);
}

@Injectable()
export class CertificatesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly signer: SignerClient,
    private readonly cas: CasService,
  ) {}

  async issue(req: GatewayRequest, dto: IssueCertificateDto) {
    const principal = req.principal as OrgPrincipal;
    const extendedKeyUsage = extendedKeyUsageFor(dto.usage, dto.extendedKeyUsage);
    if (dto.mode === 'managed' && !dto.commonName) throw ApiError.validation([{ field: 'commonName', messages: ['commonName is required in managed mode'] }]);
    if (dto.mode === 'csr' && !dto.csrPem) throw ApiError.validation([{ field: 'csrPem', messages: ['csrPem is required in csr mode'] }]);
    if (dto.mode === 'managed' && dto.csrPem) throw ApiError.validation([{ field: 'csrPem', messages: ['csrPem belongs to csr mode'] }]);
    let sans;
    try {
      sans = normalizeSubjectAltNames({ dns: dto.sanDns, ip: dto.sanIp, email: dto.sanEmail, uri: dto.sanUri });
    } catch (error) {
      if (isPkiError(error)) throw apiErrorOf(error, 'san');
      throw error;
    }
    if (dto.csrPem) {
      // Refuse a bad CSR here with the signing lib's words; the signer verifies it again before signing.
      await parseCsr(dto.csrPem).catch((error) => {
        throw isPkiError(error) ? apiErrorOf(error, 'csrPem') : error;
      });
    }
    const ca = await this.cas.readable(principal, dto.caId);
    const certificateId = randomUUID();
    const recipient = dto.mode === 'managed' ? newRecipient() : null;
    const job: IssueCertificateJob = {
      issuanceKey: `issue-${certificateId}`,
      certificateId,
      orgId: principal.orgId,
      caId: ca.id,
      mode: dto.mode,
      commonName: dto.commonName,
      sans,
      csrPem: dto.csrPem,
      keyAlgorithm: dto.keyAlgorithm,
      validityDays: dto.validityDays,
      usage: dto.usage,
      extendedKeyUsage,
      subject: dto.subject ? { ...dto.subject } : undefined,
      notes: dto.notes,
      autoRenew: dto.autoRenew,
      renewalThresholdDays: dto.renewalThresholdDays,
      storeKey: dto.storeKey,
      caPassphrase: dto.caPassphrase,
      recipientKey: recipient?.publicKeyBase64,
      actor: { type: 'apiKey', id: principal.apiKeyId, name: principal.name, ip: clientIp(req) },
      publicBaseUrl: this.config.PUBLIC_BASE_URL,
    };
    const result = await this.signer.run<IssueCertificateResult>(SIGNER_JOBS.issueCertificate, job, job.issuanceKey);
    const response = await this.get(principal, result.certificateId);
    return recipient && result.sealedPrivateKey ? { ...response, privateKey: open(result.sealedPrivateKey, recipient.privateKey) } : response;
  }

  /** API.md's list: every filter, sort and page; a member sees only certificates of CAs it may read. */
  async list(principal: OrgPrincipal, q: ListCertificatesQueryDto) {
    const query = this.dataSource.getRepository(CertificateEntity).createQueryBuilder('c').where('c.org_id = :orgId', { orgId: principal.orgId });
    const readable = readableCaIds(principal);
    if (readable) query.andWhere('c.ca_id = ANY(:readable)', { readable: readable.length ? readable : ['00000000-0000-0000-0000-000000000000'] });
    if (q.caId) query.andWhere('c.ca_id = :caId', { caId: q.caId });
    if (q.usage) query.andWhere('c.usage = :usage', { usage: q.usage });
    if (q.createdFrom) query.andWhere('c.created_at >= :createdFrom', { createdFrom: q.createdFrom });
    if (q.createdTo) query.andWhere('c.created_at <= :createdTo', { createdTo: q.createdTo });
    switch (q.status) {
      case 'active':
        query.andWhere(`c.status = 'active' AND c.valid_to > now()`);
        break;
      case 'expiring':
        query.andWhere(`c.status = 'active' AND c.valid_to > now() AND c.valid_to <= now() + make_interval(days => :days)`, { days: q.expiringInDays });
        break;
      case 'expired':
        query.andWhere(`c.status = 'active' AND c.valid_to <= now()`);
        break;
      case 'revoked':
        query.andWhere(`c.status = 'revoked'`);
        break;
    }
    if (q.search) {
      const like = `%${q.search.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
      query.andWhere(
        `(lower(c.common_name) LIKE :like OR EXISTS (SELECT 1 FROM unnest(c.san_dns) AS d WHERE d LIKE :like)
          OR c.serial_number = :serial OR c.fingerprint_sha256 = :fingerprint)`,
        { like, serial: q.search.toUpperCase().replace(/:/g, ''), fingerprint: q.search.toLowerCase().replace(/:/g, '') },
      );
    }
    const column = { validTo: 'c.valid_to', commonName: 'lower(c.common_name)', createdAt: 'c.created_at' }[q.sortBy];
    const order = q.sortOrder === 'asc' ? 'ASC' : 'DESC';
    query.orderBy(column, order).addOrderBy('c.id', order).skip(skipOf(q)).take(q.pageSize);
    const [rows, total] = await query.getManyAndCount();
    return pageOf('certificates', rows.map((row) => certificateView(row)), total, q);
  }

  /** The certificate if this key may read its CA (404 otherwise), with its PEM and the CA chain. */
  async get(principal: OrgPrincipal, id: string) {
    const row = await this.dataSource.getRepository(CertificateEntity).findOneBy({ id, orgId: principal.orgId });
    const readable = readableCaIds(principal);
    if (!row || (readable && !readable.includes(row.caId))) throw ApiError.notFound('certificate');
    const chain = await this.cas.chain(principal, row.caId);
    return { certificate: { ...certificateView(row), certificatePem: certificatePem(row), chainPem: chain.chain.join('') } };
  }
}
