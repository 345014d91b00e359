import { ApiProperty } from '@nestjs/swagger';
import { PageView } from '../api-docs.decorator';
import { IsString, Length, Matches } from 'class-validator';
import type { OrgEntity } from '@signet/persistence';

export class CreateOrgDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Acme Corp' })
  @IsString()
  @Length(1, 200)
  name: string;

  @ApiProperty({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$', example: 'acme' })
  @IsString()
  @Matches(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, { message: 'slug must be 1-63 lowercase letters, digits or inner hyphens' })
  slug: string;
}

export class OrgView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty() slug: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
}

export class CreatedOrgView {
  @ApiProperty({ type: OrgView }) org: OrgView;
  @ApiProperty({ description: "the org's first admin key, shown only here", example: 'sgn_3f9c2a7d1b6e4f80_…' })
  adminKey: string;
}

/** `{org}`: GET /platform/orgs/:id. */
export class OrgEnvelopeView {
  @ApiProperty({ type: () => OrgView }) org: OrgView;
}

export class OrgPageView extends PageView {
  @ApiProperty({ type: () => [OrgView] }) orgs: OrgView[];
}

export const orgView = (row: OrgEntity): OrgView => ({
  id: row.id,
  name: row.name,
  slug: row.slug,
  createdAt: row.createdAt.toISOString(),
});
