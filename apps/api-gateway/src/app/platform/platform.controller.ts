import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { RESOURCE_ID } from '../resource-id.pipe';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { Access } from '../access/access.decorator';
import { CreatePlatformKeyDto, CreatedApiKeyView } from '../api-keys/api-key.dto';
import { ApiKeyPageView } from '../api-keys/api-key.view';
import { ApiKeysService } from '../api-keys/api-keys.service';
import { Audited } from '../audit/audited.decorator';
import { PageQueryDto } from '../paging';
import { CreateOrgDto, CreatedOrgView, OrgEnvelopeView, OrgPageView } from './org.dto';
import { OrgsService } from './orgs.service';
import { CurrentCaller, Caller } from '../access/caller';

@ApiTags('platform')
@ApiBearerAuth('apiKey')
@Controller('api/v1/platform')
@Access('platform')
@ApiErrors(403)
export class PlatformController {
  constructor(
    private readonly orgs: OrgsService,
    private readonly keys: ApiKeysService,
  ) {}

  @Post('orgs')
  @Audited('org.create', 'org')
  @ApiOperation({ summary: 'Create an org and its first org admin key' })
  @ApiCreatedResponse({ type: CreatedOrgView })
  @ApiErrors(...BODY_ERRORS, 409)
  createOrg(@CurrentCaller() caller: Caller, @Body() dto: CreateOrgDto) {
    return this.orgs.create(caller, dto);
  }

  @Get('orgs')
  @Audited('org.list', 'org')
  @ApiOperation({ summary: 'List orgs' })
  @ApiOkResponse({ type: OrgPageView })
  listOrgs(@Query() q: PageQueryDto) {
    return this.orgs.list(q);
  }

  @Get('orgs/:id')
  @Audited('org.get', 'org')
  @ApiOperation({ summary: 'Get one org' })
  @ApiOkResponse({ type: OrgEnvelopeView })
  @ApiErrors(404)
  getOrg(@Param('id', RESOURCE_ID) id: string) {
    return this.orgs.get(id);
  }

  @Post('api-keys')
  @Audited('platformKey.create', 'apiKey')
  @ApiOperation({ summary: 'Create a platform key (acts as the platform admin; revocable, unlike PLATFORM_ADMIN_KEY)' })
  @ApiCreatedResponse({ type: CreatedApiKeyView })
  @ApiErrors(...BODY_ERRORS)
  createKey(@CurrentCaller() caller: Caller, @Body() dto: CreatePlatformKeyDto) {
    return this.keys.create(caller, {
      orgId: null,
      name: dto.name,
      role: 'platform',
      expiresAt: dto.expiresAt ? new Date(dto.expiresAt) : null,
    });
  }

  @Get('api-keys')
  @Audited('platformKey.list', 'apiKey')
  @ApiOperation({ summary: 'List platform keys' })
  @ApiOkResponse({ type: ApiKeyPageView })
  listKeys(@Query() q: PageQueryDto) {
    return this.keys.list(null, q);
  }

  @Delete('api-keys/:id')
  @HttpCode(204)
  @Audited('platformKey.revoke', 'apiKey')
  @ApiOperation({ summary: 'Revoke a platform key and the platform keys it minted (transitively), at once on every replica' })
  @ApiNoContentResponse({ description: 'revoked (revoking a revoked key again revokes only what it minted that is still live)' })
  @ApiErrors(404)
  revokeKey(@CurrentCaller() caller: Caller, @Param('id', RESOURCE_ID) id: string) {
    return this.keys.revoke(caller, null, id);
  }
}
