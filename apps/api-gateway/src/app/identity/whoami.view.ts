import { ApiProperty } from '@nestjs/swagger';
import type { CaPermissions } from '@signet/persistence';
import { CA_PERMISSIONS_SCHEMA, WhoamiKeyView } from '../api-keys/api-key.view';
import { OrgView } from '../platform/org.dto';

/** GET /whoami: the calling key, its org (null for platform keys) and its per-CA permissions. */
export class WhoamiView {
  @ApiProperty({ type: () => OrgView, nullable: true, description: 'null for platform keys' }) org: OrgView | null;
  @ApiProperty({ type: () => WhoamiKeyView }) apiKey: WhoamiKeyView;
  @ApiProperty(CA_PERMISSIONS_SCHEMA) permissions: CaPermissions;
}
