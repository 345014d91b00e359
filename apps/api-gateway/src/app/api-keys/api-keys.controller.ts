import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { RESOURCE_ID } from '../resource-id.pipe';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { Access } from '../access/access.decorator';
import type { OrgPrincipal } from '../access/principal';
import { Audited } from '../audit/audited.decorator';
import { PageQueryDto } from '../paging';
import { CreateApiKeyDto, CreatedApiKeyView } from './api-key.dto';
import { ApiKeyPageView } from './api-key.view';
import { ApiKeysService } from './api-keys.service';
import { CurrentCaller, Caller } from '../access/caller';

const orgOf = (caller: Caller) => (caller.principal as OrgPrincipal).orgId;

@ApiTags('keys and identity')
@ApiBearerAuth('apiKey')
@Controller('api/v1/api-keys')
@Access('orgAdmin')
@ApiErrors(403)
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @Audited('apiKey.create', 'apiKey')
  @ApiOperation({ summary: 'Create an org API key; the key itself is shown only in this response' })
  @ApiCreatedResponse({ type: CreatedApiKeyView })
  @ApiErrors(...BODY_ERRORS)
  create(@CurrentCaller() caller: Caller, @Body() dto: CreateApiKeyDto) {
    return this.keys.create(caller, {
      orgId: orgOf(caller),
      name: dto.name,
      role: dto.role,
      permissions: dto.permissions,
      expiresAt: dto.expiresAt ? new Date(dto.expiresAt) : null,
    });
  }

  @Get()
  @Audited('apiKey.list', 'apiKey')
  @ApiOperation({ summary: "List the org's API keys (never their secrets)" })
  @ApiOkResponse({ type: ApiKeyPageView })
  list(@CurrentCaller() caller: Caller, @Query() q: PageQueryDto) {
    return this.keys.list(orgOf(caller), q);
  }

  @Delete(':id')
  @HttpCode(204)
  @Audited('apiKey.revoke', 'apiKey')
  @ApiOperation({ summary: 'Revoke an API key, at once on every gateway replica' })
  @ApiNoContentResponse({ description: 'revoked (revoking a revoked key again is a no-op)' })
  @ApiErrors(404)
  revoke(@CurrentCaller() caller: Caller, @Param('id', RESOURCE_ID) id: string) {
    return this.keys.revoke(caller, orgOf(caller), id);
  }
}
