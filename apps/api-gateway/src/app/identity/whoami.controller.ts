import { Controller, Get, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiError } from '@signet/service';
import { ApiErrors } from '../api-docs.decorator';
import { Access } from '../access/access.decorator';
import { apiKeyView } from '../api-keys/api-key.view';
import { orgView } from '../platform/org.dto';
import type { GatewayRequest } from '../request-context';
import { OrgDirectory } from './org-directory';
import { WhoamiView } from './whoami.view';

@ApiTags('keys and identity')
@ApiBearerAuth('apiKey')
@Controller('api/v1/whoami')
@Access('anyKey')
@ApiErrors()
export class WhoamiController {
  constructor(private readonly orgs: OrgDirectory) {}

  @Get()
  @ApiOperation({ summary: 'The calling key: its org, the key itself and its per-CA permissions' })
  @ApiOkResponse({ type: WhoamiView })
  async whoami(@Req() req: GatewayRequest) {
    const principal = req.principal!;
    if (principal.type === 'platform') {
      return {
        org: null,
        apiKey: req.apiKey ? apiKeyView(req.apiKey) : { id: null, name: principal.name, prefix: null, role: 'platform' },
        permissions: {},
      };
    }
    // anyKey admits no agent key (the access guard refused it already).
    if (principal.type === 'agent') throw ApiError.forbidden("an agent's key opens only the agent routes");
    const org = await this.orgs.get(principal.orgId);
    return {
      org: org ? orgView(org) : null,
      apiKey: apiKeyView(req.apiKey!),
      // Empty for an admin key, which may do everything in its org.
      permissions: principal.permissions,
    };
  }
}
