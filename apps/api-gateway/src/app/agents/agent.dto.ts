/** Request bodies and answers of the agent routes (API.md section 10). */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { AgentRow, AgentScan, AgentTarget, DeploymentRow, DiscoveredCertificateRow } from '@signet/persistence';
import { toPem } from '@signet/pki';
import { OptionalNotNull } from '@signet/service';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize, ArrayNotEmpty, IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUUID, Length, Matches, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { PageView } from '../api-docs.decorator';
import { BundleFindingView } from '../certificates/certificate-bundle.dto';
import { CertificateWithPemView } from '../certificates/certificate.view';
import { PageQueryDto } from '../paging';

/** Past this long without a word from an agent (heartbeats every 30 s, polls every 25 s), it is offline. */
export const AGENT_OFFLINE_AFTER_MS = 90_000;
/** Findings in one discovery report. */
export const MAX_FINDINGS_PER_REPORT = 500;
const ONE_LINE = /^\P{Cc}*$/u;
/** Target names: what an agent's configuration may call a target, and a deploy may name. */
const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TARGET_NAME_MESSAGE = 'a target name is 1-64 letters, digits, dots, dashes or underscores';

const asBoolean = ({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value);

export class CreateAgentDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'web-01' })
  @IsString() @Length(1, 200) @Matches(ONE_LINE, { message: 'name must be one line of text' })
  name: string;
}

export class AgentView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ description: 'the public part of its key (sga_<id>)' }) prefix: string;
  @ApiProperty({ enum: ['online', 'offline'], description: `online: heard from within the last ${AGENT_OFFLINE_AFTER_MS / 1000} s` }) status: 'online' | 'offline';
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) lastSeenAt: string | null;
  @ApiProperty({ type: String, nullable: true }) hostname: string | null;
  @ApiProperty({ type: String, nullable: true }) version: string | null;
  @ApiProperty({ type: 'array', items: { type: 'object' }, description: 'its deployment targets, as its configuration names them' }) targets: AgentTarget[];
  @ApiProperty({ type: 'object', nullable: true, additionalProperties: true, description: 'its last discovery pass: {scanId, startedAt, reported, errors: [{location, error}], errorCount}' }) lastScan: AgentScan | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt: string;
}

export class AgentEnvelopeView {
  @ApiProperty({ type: AgentView }) agent: AgentView;
}

export class CreatedAgentView extends AgentEnvelopeView {
  @ApiProperty({ description: 'the agent key (sga_<id>_<secret>), shown this once' }) key: string;
}

export class AgentPageView extends PageView {
  @ApiProperty({ type: [AgentView] }) agents: AgentView[];
}

export function agentView(a: AgentRow, now: number) {
  const online = a.lastSeenAt !== null && now - a.lastSeenAt.getTime() < AGENT_OFFLINE_AFTER_MS;
  return {
    id: a.id, name: a.name, prefix: a.prefix, status: online ? ('online' as const) : ('offline' as const), lastSeenAt: a.lastSeenAt?.toISOString() ?? null,
    hostname: a.hostname, version: a.version, targets: a.targets, lastScan: a.lastScan, createdAt: a.createdAt.toISOString(),
  };
}

// ---- the agent's own calls ----

export class AgentTargetDto {
  @ApiProperty({ pattern: TARGET_NAME.source }) @IsString() @Matches(TARGET_NAME, { message: TARGET_NAME_MESSAGE }) name: string;
  @ApiProperty({ maxLength: 4096 }) @IsString() @Length(1, 4096) @Matches(ONE_LINE) certPath: string;
  @ApiPropertyOptional({ type: String, nullable: true }) @IsOptional() @IsString() @Length(1, 4096) @Matches(ONE_LINE) keyPath?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) @IsOptional() @IsString() @Length(1, 4096) @Matches(ONE_LINE) chainPath?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) @IsOptional() @IsString() @Length(1, 4096) @Matches(ONE_LINE) fullchainPath?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) @IsOptional() @IsString() @Length(1, 4096) reloadCommand?: string | null;
}

export class HeartbeatDto {
  @ApiPropertyOptional({ type: String, maxLength: 255 }) @IsOptional() @IsString() @MaxLength(255) @Matches(ONE_LINE) hostname?: string;
  @ApiPropertyOptional({ type: String, maxLength: 64 }) @IsOptional() @IsString() @MaxLength(64) @Matches(ONE_LINE) version?: string;
  @ApiPropertyOptional({ type: [AgentTargetDto] })
  @IsOptional() @IsArray() @ArrayMaxSize(100) @ValidateNested({ each: true }) @Type(() => AgentTargetDto)
  targets?: AgentTargetDto[];
}

export class FindingDto {
  @ApiProperty({ enum: ['filesystem', 'network'] }) @IsIn(['filesystem', 'network']) source: 'filesystem' | 'network';
  @ApiProperty({ maxLength: 4096, description: 'a file path, or host:port' }) @IsString() @Length(1, 4096) @Matches(ONE_LINE) location: string;
  @ApiPropertyOptional({ description: 'the certificate (PEM); absent when the finding is an error' })
  @IsOptional() @IsString() @MaxLength(65536)
  certificatePem?: string;

  @ApiPropertyOptional({ description: 'the certificates found with it, as PEM' }) @IsOptional() @IsString() @MaxLength(131072) chainPem?: string;
  @ApiPropertyOptional({ type: Boolean }) @IsOptional() @IsBoolean() hasPrivateKey?: boolean;
  @ApiPropertyOptional({ description: 'why the location could not be read (unreadable, a loop, not a certificate, no answer)' })
  @IsOptional() @IsString() @MaxLength(1000)
  error?: string;
}

export class DiscoveryReportDto {
  @ApiProperty({ description: 'the discovery pass this batch belongs to (any id the agent chooses per pass)' })
  @IsString() @Length(1, 64) @Matches(/^[A-Za-z0-9._-]+$/)
  scanId: string;

  @ApiProperty({ type: String, format: 'date-time' }) @IsString() @MaxLength(40) startedAt: string;

  @ApiProperty({ type: [FindingDto], maxItems: MAX_FINDINGS_PER_REPORT })
  @IsArray() @ArrayMaxSize(MAX_FINDINGS_PER_REPORT) @ValidateNested({ each: true }) @Type(() => FindingDto)
  findings: FindingDto[];
}

export class DiscoveryReportResultView {
  @ApiProperty({ description: 'certificates stored' }) stored: number;
  @ApiProperty({ description: 'finding-level errors: those the agent reported and certificates that could not be read' }) errors: number;
  @ApiProperty({ type: 'array', items: { type: 'object' }, description: 'the findings the gateway could not read: {location, error}' }) rejected: { location: string; error: string }[];
}

export class ClaimDeploymentDto {
  @ApiProperty({ description: "the agent's X25519 public key (SPKI DER, base64): a private key is handed over sealed to it" })
  @IsString() @Length(40, 200) @Matches(/^[A-Za-z0-9+/=]+$/)
  recipientKey: string;

  @ApiProperty({ description: 'this run of the agent (a new id per process start): a deployment claimed by an earlier run is handed out again' })
  @IsString() @Length(1, 64) @Matches(/^[A-Za-z0-9._-]+$/)
  session: string;

  @ApiPropertyOptional({ minimum: 0, maximum: 30, default: 0, description: 'wait up to this many seconds for a deployment (long poll)' })
  @IsOptional() @IsInt() @Min(0) @Max(30)
  waitSeconds?: number;
}

export class TargetResultDto {
  @ApiProperty() @IsString() @Matches(TARGET_NAME, { message: TARGET_NAME_MESSAGE }) name: string;
  @ApiProperty({ enum: ['succeeded', 'failed'] }) @IsIn(['succeeded', 'failed']) status: 'succeeded' | 'failed';
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 4000 }) @IsOptional() @IsString() @MaxLength(4000) error?: string | null;
}

export class DeploymentResultDto {
  @ApiProperty({ type: [TargetResultDto] })
  @IsArray() @ArrayNotEmpty() @ArrayMaxSize(100) @ValidateNested({ each: true }) @Type(() => TargetResultDto)
  targets: TargetResultDto[];
}

// ---- deployments ----

export class DeployTargetDto {
  @ApiProperty({ format: 'uuid' }) @IsUUID() agentId: string;
  @ApiProperty({ pattern: TARGET_NAME.source }) @IsString() @Matches(TARGET_NAME, { message: TARGET_NAME_MESSAGE }) target: string;
}

export class DeployCertificateDto {
  @ApiProperty({ format: 'uuid' }) @IsUUID() agentId: string;

  @ApiProperty({ type: [String], description: "names of the agent's targets" })
  @IsArray() @ArrayNotEmpty() @ArrayMaxSize(100) @IsString({ each: true }) @Matches(TARGET_NAME, { each: true, message: TARGET_NAME_MESSAGE })
  targets: string[];
}

export class DeploymentTargetView {
  @ApiProperty() name: string;
  @ApiProperty({ enum: ['pending', 'succeeded', 'failed'] }) status: string;
  @ApiProperty({ type: String, nullable: true }) error: string | null;
}

export class DeploymentView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) certificateId: string;
  @ApiProperty({ format: 'uuid' }) agentId: string;
  @ApiProperty({ enum: ['pending', 'succeeded', 'failed'] }) status: string;
  @ApiProperty({ type: [DeploymentTargetView] }) targets: DeploymentTargetView[];
  @ApiProperty({ enum: ['manual', 'renewal'] }) trigger: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'when the agent last took it' }) claimedAt: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) completedAt: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt: string;
}

export class DeploymentEnvelopeView {
  @ApiProperty({ type: DeploymentView }) deployment: DeploymentView;
}

export const deploymentView = (d: DeploymentRow) => ({
  id: d.id, certificateId: d.certificateId, agentId: d.agentId, status: d.status, targets: d.targets, trigger: d.trigger,
  claimedAt: d.claimedAt?.toISOString() ?? null, completedAt: d.completedAt?.toISOString() ?? null, createdAt: d.createdAt.toISOString(),
});

/** What the agent is handed: the deployment, the files' contents, and the key sealed to its recipient key. */
export class ClaimedDeploymentView {
  @ApiProperty({ type: DeploymentView }) deployment: DeploymentView;
  @ApiProperty() certificatePem: string;
  @ApiProperty({ description: 'the issuing chain, without the certificate' }) chainPem: string;
  @ApiProperty({ description: 'the certificate, then its chain' }) fullchainPem: string;
  @ApiProperty({ type: String, nullable: true, description: 'the private key (PKCS#8 PEM) sealed to recipientKey; null when Signet keeps no key for it' })
  sealedPrivateKey: string | null;
}

export class ClaimAnswerView {
  @ApiProperty({ type: ClaimedDeploymentView, nullable: true, description: 'null: no deployment waited for the agent within waitSeconds' }) job: ClaimedDeploymentView | null;
}

// ---- discovered certificates ----

export class ListDiscoveredDto extends PageQueryDto {
  @ApiPropertyOptional({ type: Boolean }) @IsOptional() @Transform(asBoolean) @IsBoolean() imported?: boolean;
  @ApiPropertyOptional({ enum: ['filesystem', 'network'] }) @IsOptional() @IsIn(['filesystem', 'network']) source?: 'filesystem' | 'network';
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID() agentId?: string;
  @ApiPropertyOptional({ type: Number, minimum: 0, maximum: 3650, description: 'only those whose validTo is within this many days (expired ones included)' })
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(3650)
  expiringInDays?: number;
}

export class ImportDiscoveredDto {
  @ApiPropertyOptional({ type: Boolean, default: false, description: 'with profileId: renewed by the sweep within renewalThresholdDays; without one 422 (rule autoRenew)' }) @OptionalNotNull() @IsBoolean() autoRenew?: boolean;
  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: 397 }) @OptionalNotNull() @IsInt() @Min(1) @Max(397) renewalThresholdDays?: number;
  @ApiPropertyOptional({ format: 'uuid', description: 'renewed from now on by a Signet CA under this profile of the org (as renewWith {profileId} on import: a new key, the same names)' })
  @OptionalNotNull() @IsUUID() profileId?: string;
  @ApiPropertyOptional({ type: String, maxLength: 2000 }) @IsOptional() @IsString() @MaxLength(2000) notes?: string;
}

export class DiscoveredCertificateView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) agentId: string;
  @ApiProperty({ enum: ['filesystem', 'network'] }) source: string;
  @ApiProperty({ description: 'the file path, or host:port' }) location: string;
  @ApiProperty() hasPrivateKey: boolean;
  @ApiProperty() commonName: string;
  @ApiProperty() subject: string;
  @ApiProperty() issuer: string;
  @ApiProperty({ type: [String] }) sanDns: string[];
  @ApiProperty({ type: [String] }) sanIp: string[];
  @ApiProperty() serialNumber: string;
  @ApiProperty() fingerprintSha256: string;
  @ApiProperty() keyAlgorithm: string;
  @ApiProperty() selfSigned: boolean;
  @ApiProperty({ type: String, format: 'date-time' }) validFrom: string;
  @ApiProperty({ type: String, format: 'date-time' }) validTo: string;
  @ApiProperty() daysRemaining: number;
  @ApiProperty({ enum: ['active', 'expired'] }) status: string;
  @ApiProperty() certificatePem: string;
  @ApiProperty({ type: String, nullable: true }) chainPem: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) firstSeenAt: string;
  @ApiProperty({ type: String, format: 'date-time' }) lastSeenAt: string;
  @ApiProperty({ description: "in the org's inventory" }) imported: boolean;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) certificateId: string | null;
}

export class LocationView {
  @ApiProperty({ format: 'uuid' }) agentId: string;
  @ApiProperty({ enum: ['filesystem', 'network'] }) source: string;
  @ApiProperty() location: string;
  @ApiProperty({ type: String, format: 'date-time' }) lastSeenAt: string;
}

export class DiscoveredInInventoryView extends CertificateWithPemView {
  @ApiProperty({ type: [LocationView], description: "where the org's agents saw it" }) locations: LocationView[];
}

export class ImportedDiscoveredView {
  @ApiProperty({ type: DiscoveredInInventoryView }) certificate: DiscoveredInInventoryView;
  @ApiProperty({ type: [BundleFindingView], description: 'what validate warns of (expiring, weak_key, chain_missing, ...)' }) warnings: BundleFindingView[];
}

export class CertificateWithTargetsView extends CertificateWithPemView {
  @ApiProperty({ type: [DeployTargetDto], description: 'where each renewal of it is deployed' }) deployTargets: DeployTargetDto[];
}

/** PATCH /certificates/:id's answer: the certificate and its deployment targets. */
export class PatchedCertificateEnvelopeView {
  @ApiProperty({ type: CertificateWithTargetsView }) certificate: CertificateWithTargetsView;
}

export class DiscoveredCertificatePageView extends PageView {
  @ApiProperty({ type: [DiscoveredCertificateView] }) discoveredCertificates: DiscoveredCertificateView[];
}

export class DiscoveredCertificateEnvelopeView {
  @ApiProperty({ type: DiscoveredCertificateView }) discoveredCertificate: DiscoveredCertificateView;
}

export function discoveredView(d: DiscoveredCertificateRow, now: number) {
  const validTo = d.validTo.getTime();
  return {
    id: d.id, agentId: d.agentId, source: d.source, location: d.location, hasPrivateKey: d.hasPrivateKey, commonName: d.commonName, subject: d.subjectDn,
    issuer: d.issuerDn, sanDns: d.sanDns, sanIp: d.sanIp, serialNumber: d.serialNumber, fingerprintSha256: d.fingerprintSha256, keyAlgorithm: d.keyAlgorithm,
    selfSigned: d.selfSigned, validFrom: d.validFrom.toISOString(), validTo: d.validTo.toISOString(),
    daysRemaining: Math.max(0, Math.floor((validTo - now) / 86_400_000)), status: validTo <= now ? 'expired' : 'active',
    certificatePem: toPem('CERTIFICATE', d.certificateDer), chainPem: d.chainPem, firstSeenAt: d.firstSeenAt.toISOString(), lastSeenAt: d.lastSeenAt.toISOString(),
    imported: d.certificateId !== null, certificateId: d.certificateId,
  };
}
