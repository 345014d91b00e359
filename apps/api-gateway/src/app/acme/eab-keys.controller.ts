import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator';
import { CurrentCaller, OrgCaller } from '../access/caller';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { Audited } from '../audit/audited.decorator';
import { RESOURCE_ID } from '../resource-id.pipe';
import { CreateEabKeyDto, CreatedEabKeyView, EabKeyPageView, ListEabKeysDto } from './eab-key.dto';
import { EabKeysService } from './eab-keys.service';

@ApiTags('acme')
@ApiBearerAuth('apiKey')
@Controller('api/v1/acme/eab-keys')
@ApiErrors(403)
export class EabKeysController {
  constructor(private readonly eabKeys: EabKeysService) {}

  @Post()
  @Access('orgAdmin')
  @Audited('acme.eabKey.create', 'acmeEabKey')
  @ApiOperation({
    summary: "An external account binding key for a profile's ACME directory (/acme/<orgSlug>/<profileSlug>/directory)",
    description: 'The HMAC key is in this answer only. Give keyId and hmacKey to the ACME client (certbot --eab-kid/--eab-hmac-key, cert-manager externalAccountBinding). It binds one account.',
  })
  @ApiCreatedResponse({ type: CreatedEabKeyView })
  @ApiErrors(...BODY_ERRORS, 503)
  create(@CurrentCaller() caller: OrgCaller, @Body() dto: CreateEabKeyDto) {
    return this.eabKeys.create(caller, dto);
  }

  @Get()
  @Access('orgAdmin')
  @ApiOperation({ summary: "The org's EAB keys, newest first (never their HMAC keys)" })
  @ApiOkResponse({ type: EabKeyPageView })
  list(@CurrentCaller() caller: OrgCaller, @Query() q: ListEabKeysDto) {
    return this.eabKeys.list(caller, q);
  }

  @Delete(':id')
  @HttpCode(204)
  @Access('orgAdmin')
  @Audited('acme.eabKey.delete', 'acmeEabKey')
  @ApiOperation({ summary: 'Delete an EAB key: it registers no account from now on (an account it already bound stays)' })
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiErrors(404)
  async remove(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string) {
    await this.eabKeys.remove(caller, id);
  }
}
