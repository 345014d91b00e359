import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { RESOURCE_ID } from '../resource-id.pipe';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { Access } from '../access/access.decorator';
import type { OrgPrincipal } from '../access/principal';
import { Audited } from '../audit/audited.decorator';
import { PageQueryDto } from '../paging';
import type { GatewayRequest } from '../request-context';
import { CreateApiKeyDto, CreatedApiKeyView } from './api-key.dto';
import { ApiKeyPageView } from './api-key.view';
import { ApiKeysService } from './api-keys.service';

const orgOf = (req: GatewayRequest) => (req.principal as OrgPrincipal).orgId;

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
  create(@Req() req: GatewayRequest, @Body() dto: CreateApiKeyDto) {
    return this.keys.create(req, {
      orgId: orgOf(req),
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
  list(@Req() req: GatewayRequest, @Query() q: PageQueryDto) {
    return this.keys.list(orgOf(req), q);
  }

  @Delete(':id')
  @HttpCode(204)
  @Audited('apiKey.revoke', 'apiKey')
  @ApiOperation({ summary: 'Revoke an API key, at once on every gateway replica' })
  @ApiNoContentResponse({ description: 'revoked (revoking a revoked key again is a no-op)' })
  @ApiErrors(404)
  revoke(@Req() req: GatewayRequest, @Param('id', RESOURCE_ID) id: string) {
    return this.keys.revoke(req, orgOf(req), id);
  }
}
