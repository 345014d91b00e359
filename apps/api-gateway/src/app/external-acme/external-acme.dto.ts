/** Request bodies and answers of the outside-ACME routes (API.md section 8). */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { ExternalAcmeAccountRow, ExternalAcmeOrderRow } from '@signet/persistence';
import { OptionalNotNull } from '@signet/service';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, ArrayNotEmpty, Equals, IsArray, IsBoolean, IsEmail, IsIn, IsInt, IsObject, IsString, IsUUID, Matches, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { PageView } from '../api-docs.decorator';
import { DNS_PROVIDER_TYPES } from './dns-providers';

export const ORDER_KEY_ALGORITHMS = ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096'] as const;
export const CHALLENGE_TYPES = ['http-01', 'dns-01'] as const;
/** Names per order: Let's Encrypt's limit. */
export const MAX_ORDER_DOMAINS = 100;

/** https, a host (name, IPv4, [IPv6]) and port, and a path of printable ASCII: no credentials, no fragment, nothing a database refuses. */
const HTTPS_URL = /^https:\/\/[A-Za-z0-9.\-[\]:]+(\/[\x21-\x22\x24-\x7e]*)?$/;

export class EabDto {
  @ApiProperty({ description: 'the key identifier the CA gave (kid)' })
  @IsString() @MaxLength(256) @Matches(/^[\x21-\x7e]+$/, { message: 'eab.keyId must be printable ASCII without spaces' })
  keyId: string;

  @ApiProperty({ description: 'the HMAC key the CA gave, base64url (used once, to bind the account; never stored)' })
  @IsString() @MaxLength(512) @Matches(/^[A-Za-z0-9_-]+={0,2}$/, { message: 'eab.hmacKey must be base64url' })
  hmacKey: string;
}

export class CreateAcmeAccountDto {
  // The examples name no real CA: a body made from them (the fuzz suite does) must not open accounts anywhere.
  @ApiProperty({ example: 'https://acme.example/directory', description: "the CA's ACME directory (https), e.g. Let's Encrypt's https://acme-v02.api.letsencrypt.org/directory" })
  @IsString() @MaxLength(2048) @Matches(HTTPS_URL, { message: 'directoryUrl must be an https:// URL without credentials or fragment' })
  directoryUrl: string;

  @ApiPropertyOptional({
    example: 'https://acme-staging.example/directory',
    description: "the CA's staging directory, where dryRun orders go; Let's Encrypt's production directory gets its staging one (https://acme-staging-v02.api.letsencrypt.org/directory) by default",
  })
  @OptionalNotNull() @IsString() @MaxLength(2048) @Matches(HTTPS_URL, { message: 'stagingDirectoryUrl must be an https:// URL without credentials or fragment' })
  stagingDirectoryUrl?: string;

  @ApiProperty({ description: 'contact address the CA writes to (expiry notices, policy changes)' })
  @IsString() @MaxLength(254) @IsEmail({}, { message: 'email must be an email address' })
  email: string;

  @ApiProperty({ enum: [true], description: "the CA's terms of service are agreed to (required)" })
  @Equals(true, { message: "termsOfServiceAgreed must be true: the CA requires agreeing to its terms" })
  termsOfServiceAgreed: boolean;

  @ApiPropertyOptional({ type: EabDto, description: 'external account binding (RFC 8555 7.3.4), for CAs that require it (ZeroSSL, Google, a private CA)' })
  @OptionalNotNull() @ValidateNested() @Type(() => EabDto)
  eab?: EabDto;
}

export class ObtainCertificateDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all', { message: 'acmeAccountId must be a UUID' })
  acmeAccountId: string;

  @ApiProperty({ type: [String], example: ['www.example.com', 'example.com'], description: `DNS names (a wildcard needs dns-01), at most ${MAX_ORDER_DOMAINS}` })
  @IsArray() @ArrayNotEmpty() @ArrayMaxSize(MAX_ORDER_DOMAINS) @IsString({ each: true }) @MaxLength(253, { each: true })
  domains: string[];

  @ApiProperty({ enum: CHALLENGE_TYPES })
  @IsIn(CHALLENGE_TYPES, { message: `challengeType must be one of ${CHALLENGE_TYPES.join(', ')}` })
  challengeType: (typeof CHALLENGE_TYPES)[number];

  @ApiPropertyOptional({
    description: `dns-01 only: {type: ${DNS_PROVIDER_TYPES.join('|')}, ...its credentials}. rfc2136: {nameserver, tsigKeyName, tsigAlgorithm, tsigSecret, zone?}; ` +
      'exec: {command} (on the operator allow-list EXTERNAL_ACME_EXEC_COMMANDS); cloudflare/digitalocean: {apiToken}; route53: {accessKeyId, secretAccessKey, hostedZoneId?, region?}; ' +
      'godaddy: {apiKey, apiSecret}; gcloud: {project, serviceAccountJson}. Encrypted at rest, never returned or logged.',
  })
  @OptionalNotNull() @IsObject()
  dnsProvider?: Record<string, unknown>;

  @ApiPropertyOptional({ enum: ORDER_KEY_ALGORITHMS, default: 'ECDSA-P256', description: "the certificate's key, made by Signet for this order" })
  @OptionalNotNull() @IsIn(ORDER_KEY_ALGORITHMS, { message: `keyAlgorithm must be one of ${ORDER_KEY_ALGORITHMS.join(', ')}` })
  keyAlgorithm?: (typeof ORDER_KEY_ALGORITHMS)[number];

  @ApiPropertyOptional({ default: true, description: 'renewed by the renewal sweep through the same account' })
  @OptionalNotNull() @IsBoolean()
  autoRenew?: boolean;

  @ApiPropertyOptional({ default: 30, minimum: 1, maximum: 397 })
  @OptionalNotNull() @IsInt() @Min(1) @Max(397)
  renewalThresholdDays?: number;

  @ApiPropertyOptional({ default: false, description: "runs the whole order at the account's staging directory (when it has one) and stores no certificate" })
  @OptionalNotNull() @IsBoolean()
  dryRun?: boolean;
}

/** `renewWith` (import, PATCH): `{profileId}`, issued anew under a Signet profile, or `{acmeAccountId, ...}`, obtained anew through that account (certificates/renewal-methods.ts). */
export class RenewWithDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'an outside ACME account of the org' })
  @OptionalNotNull() @IsUUID('all', { message: 'renewWith.acmeAccountId must be a UUID' })
  acmeAccountId?: string;

  @ApiPropertyOptional({ format: 'uuid', description: 'a certificate profile of the org whose CA issues the renewal (not with acmeAccountId)' })
  @OptionalNotNull() @IsUUID('all', { message: 'renewWith.profileId must be a UUID' })
  profileId?: string;

  @ApiPropertyOptional({ enum: CHALLENGE_TYPES, default: 'http-01', description: 'with acmeAccountId' })
  @OptionalNotNull() @IsIn(CHALLENGE_TYPES, { message: `renewWith.challengeType must be one of ${CHALLENGE_TYPES.join(', ')}` })
  challengeType?: (typeof CHALLENGE_TYPES)[number];

  @ApiPropertyOptional({ description: 'with challengeType dns-01: as for obtain' })
  @OptionalNotNull() @IsObject()
  dnsProvider?: Record<string, unknown>;
}

export class AcmeAccountView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() directoryUrl: string;
  @ApiProperty({ type: String, nullable: true }) stagingDirectoryUrl: string | null;
  @ApiProperty() email: string;
  @ApiProperty({ type: String, nullable: true, description: 'the EAB key id it was bound with (never the HMAC key)' }) eabKeyId: string | null;
  @ApiProperty({ description: "the account's URL at the CA" }) accountUrl: string;
  @ApiProperty({ enum: ['valid', 'deactivated'] }) status: string;
  @ApiProperty({ description: "the account key's algorithm (the key stays in Signet, encrypted)" }) keyAlgorithm: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) deactivatedAt: string | null;
}

export const acmeAccountView = (row: ExternalAcmeAccountRow): AcmeAccountView => ({
  id: row.id, directoryUrl: row.directoryUrl, stagingDirectoryUrl: row.stagingDirectoryUrl, email: row.email, eabKeyId: row.eabKeyId, accountUrl: row.accountUrl,
  status: row.status, keyAlgorithm: row.keyAlgorithm, createdAt: row.createdAt.toISOString(), deactivatedAt: row.deactivatedAt?.toISOString() ?? null,
});

export class AcmeAccountEnvelopeView {
  @ApiProperty({ type: AcmeAccountView }) acmeAccount: AcmeAccountView;
}

export class AcmeAccountPageView extends PageView {
  @ApiProperty({ type: [AcmeAccountView] }) acmeAccounts: AcmeAccountView[];
}

export class AcmeOrderView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: ['pending', 'processing', 'valid', 'invalid'] }) status: string;
  @ApiProperty({ type: [String] }) domains: string[];
  @ApiProperty({ format: 'uuid' }) acmeAccountId: string;
  @ApiProperty({ enum: CHALLENGE_TYPES }) challengeType: string;
  @ApiProperty({ type: String, nullable: true, description: 'the DNS provider type (its credentials are never returned)' }) dnsProvider: string | null;
  @ApiProperty() keyAlgorithm: string;
  @ApiProperty() dryRun: boolean;
  @ApiProperty({ type: String, nullable: true, format: 'uuid', description: 'the certificate this order renews' }) renewsCertificateId: string | null;
  @ApiProperty({ type: Object, nullable: true, description: "invalid: why, as an RFC 7807 problem (the CA's own type and detail where it gave them)" }) error: Record<string, unknown> | null;
  @ApiProperty({ type: String, nullable: true, format: 'uuid', description: 'valid: the certificate in the inventory (null for a dry run)' }) certificateId: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}

export const acmeOrderView = (row: ExternalAcmeOrderRow, dnsProviderType: string | null): AcmeOrderView => ({
  id: row.id, status: row.status, domains: row.domains, acmeAccountId: row.accountId, challengeType: row.challengeType, dnsProvider: dnsProviderType,
  keyAlgorithm: row.keyAlgorithm, dryRun: row.dryRun, renewsCertificateId: row.renewsCertificateId, error: row.error, certificateId: row.certificateId,
  createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString(),
});

export class AcmeOrderEnvelopeView {
  @ApiProperty({ type: AcmeOrderView }) order: AcmeOrderView;
}
