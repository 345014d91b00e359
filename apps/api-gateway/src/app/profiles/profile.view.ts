/** API.md's `profile` object, and the envelopes the profile routes answer. */
import { ApiProperty } from '@nestjs/swagger';
import type { ProfileEntity } from '@signet/persistence';
import { KEY_ALGORITHM_NAMES } from '@signet/queue';
import { PageView } from '../api-docs.decorator';

export class ProfileView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty() slug: string;
  @ApiProperty({ format: 'uuid' }) caId: string;
  @ApiProperty({ type: String, nullable: true }) description: string | null;
  @ApiProperty({ type: String, nullable: true }) environment: string | null;
  @ApiProperty({ type: [String], description: 'lowercase; `example.com`: it and every name under it; `*.x.example.com`: names directly under x.example.com' }) allowedDomains: string[];
  @ApiProperty() allowWildcards: boolean;
  @ApiProperty() allowIpSans: boolean;
  @ApiProperty({ type: [String], enum: KEY_ALGORITHM_NAMES, description: 'empty: every algorithm' }) allowedKeyAlgorithms: string[];
  @ApiProperty({ type: 'integer' }) defaultValidityDays: number;
  @ApiProperty({ type: 'integer' }) maxValidityDays: number;
  @ApiProperty() usage: string;
  @ApiProperty({ type: [String], nullable: true, description: 'null: what usage stands for' }) extendedKeyUsage: string[] | null;
  @ApiProperty() requireApproval: boolean;
  @ApiProperty({ type: 'integer' }) approvalTtlHours: number;
  @ApiProperty({ description: 'ACME newAccount needs an external account binding' }) acmeEabRequired: boolean;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}

export const profileView = (p: ProfileEntity): ProfileView => ({
  id: p.id,
  name: p.name,
  slug: p.slug,
  caId: p.caId,
  description: p.description,
  environment: p.environment,
  allowedDomains: p.allowedDomains,
  allowWildcards: p.allowWildcards,
  allowIpSans: p.allowIpSans,
  allowedKeyAlgorithms: p.allowedKeyAlgorithms,
  defaultValidityDays: p.defaultValidityDays,
  maxValidityDays: p.maxValidityDays,
  usage: p.usage,
  extendedKeyUsage: p.extendedKeyUsage,
  requireApproval: p.requireApproval,
  approvalTtlHours: p.approvalTtlHours,
  acmeEabRequired: p.acmeEabRequired,
  createdAt: p.createdAt.toISOString(),
  updatedAt: p.updatedAt.toISOString(),
});

/** `{profile}`: create, get, update. */
export class ProfileEnvelopeView {
  @ApiProperty({ type: () => ProfileView }) profile: ProfileView;
}

/** `{profiles: [...]}` in API.md's list envelope. */
export class ProfilePageView extends PageView {
  @ApiProperty({ type: () => [ProfileView] }) profiles: ProfileView[];
}
