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

  /** The certificate if this key may read its CA (404 otherwise), with its PEM and the CA chain. */
  async get(principal: OrgPrincipal, id: string) {
    const row = await this.dataSource.getRepository(CertificateEntity).findOneBy({ id, orgId: principal.orgId });
    const readable = readableCaIds(principal);
    if (!row || (readable && !readable.includes(row.caId))) throw ApiError.notFound('certificate');
    const chain = await this.cas.chain(principal, row.caId);
    return { certificate: { ...certificateView(row), certificatePem: certificatePem(row), chainPem: chain.chain.join('') } };
  }
}
