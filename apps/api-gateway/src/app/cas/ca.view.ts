import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { toPem } from '@signet/pki';
import { crlUrl } from '@signet/queue';
import type { CertificateAuthorityEntity, SubjectRecord } from '@signet/persistence';

/** API.md's `ca` object. `expired` is derived from validTo, never stored. */
export class CaView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: ['root', 'intermediate'] }) type: string;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) subject: SubjectRecord;
  @ApiProperty() commonName: string;
  @ApiProperty({ enum: ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'Ed25519'] }) keyAlgorithm: string;
  @ApiProperty({ description: 'uppercase hex' }) serialNumber: string;
  @ApiProperty() fingerprintSha256: string;
  @ApiProperty({ format: 'date-time' }) validFrom: string;
  @ApiProperty({ format: 'date-time' }) validTo: string;
  @ApiProperty({ type: String, nullable: true }) parentCaId: string | null;
  @ApiProperty() depth: number;
  @ApiProperty({ type: Number, nullable: true }) pathLength: number | null;
  @ApiProperty({ type: [String] }) permittedDnsDomains: string[];
  @ApiProperty() hasPassphrase: boolean;
  @ApiProperty({ enum: ['active', 'revoked', 'expired'] }) status: string;
  @ApiProperty({ type: String, nullable: true }) revokedAt: string | null;
  @ApiProperty({ type: String, nullable: true }) revocationReason: string | null;
  @ApiProperty({ description: 'the full CRL (every revoked certificate and intermediate of this CA)' }) crlUrl: string;
  @ApiProperty({ minimum: 1, maximum: 256, description: 'CRL shards new leaves are spread over (1: their CDP is crlUrl)' }) crlShards: number;
  @ApiProperty({ type: [String], description: "the shards' CRL URLs, shard 0 first, as new leaves' CDPs name them; empty when crlShards is 1" })
  crlShardUrls: string[];
  @ApiProperty() ocspUrl: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiPropertyOptional({ description: 'only when a single CA is fetched' }) certificatePem?: string;
}

/** `{ca: {...}}`: how one CA is answered (create, import, get). */
export class CaEnvelopeView {
  @ApiProperty({ type: () => CaView }) ca: CaView;
}

/** `{cas: [...]}`: GET /cas (without certificatePem). */
export class CaListView {
  @ApiProperty({ type: () => [CaView] }) cas: CaView[];
}

/** GET /cas/:id/chain: this CA up to its root. */
export class CaChainView {
  @ApiProperty({ format: 'uuid' }) caId: string;
  @ApiProperty() chainLength: number;
  @ApiProperty({ type: [String], description: 'PEM certificates, this CA first, its root last' }) chain: string[];
}

/** GET /cas/:id/crl?format=info and GET /cas/:id/crl/:shard?format=info. */
export class CrlInfoView {
  @ApiProperty({ format: 'uuid' }) caId: string;
  @ApiProperty({ type: Number, nullable: true, description: 'the shard this CRL covers; null for the full CRL' }) shard: number | null;
  @ApiProperty({ description: "the CRL's issuer: the CA's subject DN, RFC 4514 (most specific first)", example: 'CN=Issuing CA,O=Acme,C=DE' }) issuer: string;
  @ApiProperty() crlNumber: number;
  @ApiProperty({ format: 'date-time' }) thisUpdate: string;
  @ApiProperty({ format: 'date-time' }) nextUpdate: string;
  @ApiProperty({ description: 'entries on the whole CRL (of this shard)' }) revokedCount: number;
  @ApiProperty({
    type: [String], example: ['5F3A9C0E1B2D4F6A8C0E1B2D4F6A8C0E'],
    description: 'serials on this CRL (uppercase hex), in serial order: one page of at most revokedLimit (default 1000, max 10000) after revokedAfter',
  })
  revokedSerials: string[];
  @ApiProperty({ type: String, nullable: true, description: 'more serials follow: pass this as revokedAfter for the next page; null on the last page' })
  nextRevokedAfter: string | null;
}

export function caStatus(ca: Pick<CertificateAuthorityEntity, 'status' | 'validTo'>, now = Date.now()): 'active' | 'revoked' | 'expired' {
  if (ca.status === 'revoked') return 'revoked';
  return ca.validTo.getTime() <= now ? 'expired' : 'active';
}

export function caView(ca: CertificateAuthorityEntity, publicBaseUrl: string, withPem = false): CaView {
  const base = publicBaseUrl.replace(/\/$/, '');
  return {
    id: ca.id,
    name: ca.name,
    type: ca.type,
    subject: ca.subject,
    commonName: ca.commonName,
    keyAlgorithm: ca.keyAlgorithm,
    serialNumber: ca.serialNumber,
    fingerprintSha256: ca.fingerprintSha256,
    validFrom: ca.validFrom.toISOString(),
    validTo: ca.validTo.toISOString(),
    parentCaId: ca.parentCaId,
    depth: ca.depth,
    pathLength: ca.pathLength,
    permittedDnsDomains: ca.permittedDnsDomains,
    hasPassphrase: ca.hasPassphrase,
    status: caStatus(ca),
    revokedAt: ca.revokedAt?.toISOString() ?? null,
    revocationReason: ca.revocationReason,
    crlUrl: crlUrl(base, ca.id),
    crlShards: ca.crlShards,
    crlShardUrls: ca.crlShards > 1 ? Array.from({ length: ca.crlShards }, (_, shard) => crlUrl(base, ca.id, shard)) : [],
    ocspUrl: `${base}/pki/ocsp`,
    createdAt: ca.createdAt.toISOString(),
    ...(withPem ? { certificatePem: toPem('CERTIFICATE', ca.certificateDer) } : {}),
  };
}
