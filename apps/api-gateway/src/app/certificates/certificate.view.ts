import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CertificateEntity, IssuedRow, SubjectRecord, certificateJson } from '@signet/persistence';
import { KEY_ALGORITHM_NAMES } from '@signet/queue';
import { REVOCATION_REASONS, toPem } from '@signet/pki';
import { PageView } from '../api-docs.decorator';


const SUBJECT_SCHEMA = {
  type: 'object' as const,
  description: 'the distinguished name: commonName, organization, organizationalUnit, country, state, locality, emailAddress (the issue request\'s subject.email), serialNumber',
  additionalProperties: { type: 'string' as const },
  example: { commonName: 'www.example.com', organization: 'Acme Corp' },
};

export class RenewalStateView {
  @ApiProperty({ enum: ['none', 'scheduled', 'in_progress', 'failed'], description: 'scheduled: autoRenew is on and the sweep will renew it from nextAttemptAt; failed: the last attempt failed (lastError), retried at nextAttemptAt' })
  status: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) lastAttemptAt: string | null;
  @ApiProperty({ type: String, nullable: true }) lastError: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) nextAttemptAt: string | null;
}

/** API.md's `certificate` object: what certificateView() answers. */
export class CertificateView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'the Signet CA that issued it; null for a certificate from elsewhere (source imported)' }) caId: string | null;
  @ApiProperty({ example: 'www.example.com' }) commonName: string;
  @ApiProperty(SUBJECT_SCHEMA) subject: SubjectRecord;
  @ApiProperty({ type: [String], description: 'DNS names, lowercased' }) sanDns: string[];
  @ApiProperty({ type: [String], description: 'IPv4 or IPv6 addresses' }) sanIp: string[];
  @ApiProperty({ type: [String] }) sanEmail: string[];
  @ApiProperty({ type: [String] }) sanUri: string[];
  @ApiProperty({ enum: KEY_ALGORITHM_NAMES }) keyAlgorithm: string;
  @ApiProperty({ description: 'uppercase hex, no colons', example: '5F3A9C0E1B2D4F6A8C0E1B2D4F6A8C0E' }) serialNumber: string;
  @ApiProperty({ description: 'lowercase hex SHA-256 of the DER certificate' }) fingerprintSha256: string;
  @ApiProperty({ example: 'server', description: 'server, client, api-mtls, vpn, server-client, email, code-signing, or a custom label' }) usage: string;
  @ApiProperty({ type: [String], example: ['serverAuth'], description: 'names or dotted OIDs' }) extendedKeyUsage: string[];
  @ApiProperty({ enum: ['managed', 'csr'] }) mode: string;
  @ApiProperty({ format: 'date-time' }) validFrom: string;
  @ApiProperty({ format: 'date-time' }) validTo: string;
  @ApiProperty({ minimum: 0, description: 'whole days until validTo; 0 once expired' }) daysRemaining: number;
  @ApiProperty({ enum: ['active', 'expired', 'revoked'] }) status: 'active' | 'expired' | 'revoked';
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) revokedAt: string | null;
  @ApiProperty({ type: String, enum: Object.keys(REVOCATION_REASONS), nullable: true }) revocationReason: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'the `comments` given to POST /certificates/:id/revoke (also in the certificate.revoke audit event)' })
  revocationComments: string | null;
  @ApiProperty() autoRenew: boolean;
  @ApiProperty() renewalThresholdDays: number;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'the certificate this one renewed' }) renewedFromId: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'the certificate that renewed this one' }) supersededById: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: "the profile it was issued under (null: its CA's built-in default profile)" }) profileId: string | null;
  @ApiProperty({ type: String, nullable: true, description: "the profile's environment" }) environment: string | null;
  @ApiProperty({ enum: ['issued', 'acme', 'imported', 'external-acme', 'discovered'], description: 'issued: through the API or enrollment; acme: ordered over the ACME server; imported: brought in with POST /certificates/import' }) source: string;
  @ApiProperty({ type: String, nullable: true, description: "the issuer's distinguished name (null only for certificates issued before this field existed and whose CA is gone)" }) issuer: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'the ACME account that ordered it (source acme)' }) acmeAccountId: string | null;
  @ApiProperty({ type: () => RenewalStateView, description: 'what automatic renewal is doing with it' }) renewal: RenewalStateView;
  @ApiProperty({ description: 'still good and within renewalThresholdDays of validTo' }) expiringSoon: boolean;
  @ApiProperty({ description: 'a managed key is kept, encrypted, for download (format=key)' }) hasStoredKey: boolean;
  @ApiProperty({ type: String, nullable: true }) notes: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
}

/** A certificate with its PEM and its CA chain (get, issue, renew, PATCH). */
export class CertificateWithPemView extends CertificateView {
  @ApiProperty({ description: 'the certificate, PEM' }) certificatePem: string;
  @ApiProperty({ description: 'the issuing CA up to its root, PEM, concatenated' }) chainPem: string;
}

/** `{certificate}` with PEM and chain: GET /certificates/:id and PATCH. */
export class CertificateEnvelopeView {
  @ApiProperty({ type: () => CertificateWithPemView }) certificate: CertificateWithPemView;
}

/** `{certificate, privateKey?}`: issue and renew. */
export class IssuedCertificateView {
  @ApiProperty({ type: () => CertificateWithPemView }) certificate: CertificateWithPemView;
  @ApiPropertyOptional({ description: 'PKCS#8 PEM; managed mode only, shown only here (unless storeKey)' }) privateKey?: string;
}

/** `{certificate}` without PEM: the revoke answer. */
export class RevokedCertificateView {
  @ApiProperty({ type: () => CertificateView }) certificate: CertificateView;
}

export class CertificatePageView extends PageView {
  @ApiProperty({ type: () => [CertificateView] }) certificates: CertificateView[];
  @ApiProperty({ type: String, nullable: true, description: 'pass as `cursor` for the page after this one (same sort and filters); null on the last page' })
  nextCursor: string | null;
  @ApiProperty({ type: Number, nullable: true, description: 'items matching the query, on all pages; null on a page asked for by cursor' })
  declare total: number;
  @ApiProperty({ type: Number, nullable: true, minimum: 1, description: 'null on a page asked for by cursor' }) declare page: number;
  @ApiProperty({ type: Number, nullable: true, description: 'null on a page asked for by cursor' }) declare totalPages: number;
}

const COUNTS = { type: 'object' as const, additionalProperties: { type: 'integer' as const } };

/** GET /certificates/stats. */
export class CertificateStatsView {
  @ApiProperty() total: number;
  @ApiProperty({ description: 'not revoked and not expired' }) active: number;
  @ApiProperty() expired: number;
  @ApiProperty() revoked: number;
  @ApiProperty() expiring7Days: number;
  @ApiProperty() expiring30Days: number;
  @ApiProperty({ description: 'active with autoRenew' }) autoRenewEnabled: number;
  @ApiProperty({ ...COUNTS, description: 'count per CA id' }) byCa: Record<string, number>;
  @ApiProperty({ ...COUNTS, description: "byCa by the CA's common name (CAs sharing a name add up)", example: { 'Issuing CA': 12 } }) byIssuer: Record<string, number>;
  @ApiProperty({ ...COUNTS, description: 'count per usage label' }) byUsage: Record<string, number>;
  @ApiProperty({ ...COUNTS, description: 'count per key algorithm' }) byKeyAlgorithm: Record<string, number>;
  @ApiProperty({
    format: 'date-time',
    description: 'when these counts were taken: now below 100,000 certificates in scope; above, a count of this gateway process at most 60 s old (30 s, recounted in the background up to 60 s)',
  })
  asOf: string;
}

/** download?format=json. */
export class CertificateFilesView {
  @ApiProperty() certificatePem: string;
  @ApiProperty() chainPem: string;
  @ApiProperty({ description: 'the certificate, then its chain' }) fullchainPem: string;
  @ApiPropertyOptional({ description: 'only when a key is stored and this key may issue on the CA' }) privateKeyPem?: string;
}

/** GET /ocsp/status/:serial (answered by pki/ocsp-status.controller.ts). */
export class OcspStatusView {
  @ApiProperty({ description: 'uppercase hex: as asked with colons removed, or converted from decimal (serialFormat=decimal)' }) serialNumber: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'the issuing CA; null when unknown' }) caId: string | null;
  @ApiProperty({ enum: ['good', 'revoked', 'unknown'] }) status: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) revokedAt: string | null;
  @ApiProperty({ type: String, enum: Object.keys(REVOCATION_REASONS), nullable: true }) revocationReason: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'of the pre-signed OCSP response' }) thisUpdate: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) nextUpdate: string | null;
}

/** API.md's `certificate` object (libs/persistence's certificateJson, typed as the documented view). */
export const certificateView = (row: CertificateEntity | IssuedRow, now = Date.now()): CertificateView => certificateJson(row, now);

export const certificatePem = (row: Pick<CertificateEntity, 'certificateDer'>) => toPem('CERTIFICATE', row.certificateDer);
