import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator';
import type { OrgPrincipal } from '../access/principal';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { Audited } from '../audit/audited.decorator';
import { PageQueryDto } from '../paging';
import { RESOURCE_ID } from '../resource-id.pipe';
import { CreateProfileDto, UpdateProfileDto } from './profile.dto';
import { ProfileEnvelopeView, ProfilePageView } from './profile.view';
import { ProfilesService } from './profiles.service';
import { CurrentCaller, CurrentPrincipal, OrgCaller } from '../access/caller';

@ApiTags('profiles')
@ApiBearerAuth('apiKey')
@Controller('api/v1/profiles')
@ApiErrors(403)
export class ProfilesController {
  constructor(private readonly profiles: ProfilesService) {}

  @Post()
  @Access('orgAdmin')
  @Audited('profile.create', 'profile')
  @ApiOperation({
    summary: 'Create a profile: the issuance policy of one CA of the org, by name and slug',
    description: '400 validation_failed names each bad field, caId too when it is no CA of this org or the CA is revoked; 409 conflict when a live profile of the org has the slug.',
  })
  @ApiCreatedResponse({ type: ProfileEnvelopeView })
  @ApiErrors(...BODY_ERRORS, 409)
  create(@CurrentCaller() caller: OrgCaller, @Body() dto: CreateProfileDto) {
    return this.profiles.create(caller, dto);
  }

  @Get()
  @Access('orgKey')
  @ApiOperation({ summary: 'The live profiles of the org, oldest first (a member key: those of the CAs it may read)' })
  @ApiOkResponse({ type: ProfilePageView })
  list(@CurrentPrincipal() principal: OrgPrincipal, @Query() q: PageQueryDto) {
    return this.profiles.list(principal, q);
  }

  @Get(':id')
  @Access('orgKey')
  @ApiOperation({ summary: 'One live profile (404 when deleted, of another org, or of a CA a member key may not read)' })
  @ApiOkResponse({ type: ProfileEnvelopeView })
  @ApiErrors(404)
  get(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string) {
    return this.profiles.get(principal, id);
  }

  @Patch(':id')
  @Access('orgAdmin')
  @Audited('profile.update', 'profile')
  @ApiOperation({
    summary: 'Change any field of a profile but caId',
    description: 'caId in the body: 400 validation_failed naming caId. The rules between fields (defaultValidityDays <= maxValidityDays, extendedKeyUsage names) are checked on the profile as it would be stored.',
  })
  @ApiOkResponse({ type: ProfileEnvelopeView })
  @ApiErrors(...BODY_ERRORS, 404, 409)
  update(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Body() dto: UpdateProfileDto) {
    return this.profiles.update(caller, id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @Access('orgAdmin')
  @Audited('profile.delete', 'profile')
  @ApiOperation({ summary: 'Delete a profile: issuance under it stops (404), its certificates keep their profileId, its slug is free again' })
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiErrors(404)
  async remove(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string) {
    await this.profiles.remove(caller, id);
  }
}
