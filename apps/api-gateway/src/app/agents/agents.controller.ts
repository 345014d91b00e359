import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse, ApiBearerAuth, ApiCreatedResponse, ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags,
} from '@nestjs/swagger';
import { Access } from '../access/access.decorator';
import { CurrentCaller, CurrentPrincipal, OrgCaller } from '../access/caller';
import type { OrgPrincipal } from '../access/principal';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { Audited } from '../audit/audited.decorator';
import { PageQueryDto } from '../paging';
import { RESOURCE_ID } from '../resource-id.pipe';
import {
  AgentEnvelopeView, AgentPageView, ClaimAnswerView, ClaimDeploymentDto, CreateAgentDto, CreatedAgentView, DeployCertificateDto, DeploymentEnvelopeView,
  DeploymentResultDto, DiscoveredCertificateEnvelopeView, DiscoveredCertificatePageView, DiscoveryReportDto, DiscoveryReportResultView, HeartbeatDto,
  ImportDiscoveredDto, ImportedDiscoveredView, ListDiscoveredDto,
} from './agent.dto';
import { AgentCaller, AgentsService } from './agents.service';
import { DeploymentsService } from './deployments.service';

const AGENT_AUTH = 'Authorization: Bearer <agent key> or X-Agent-API-Key: <agent key>; no other key opens these routes, and an agent key opens nothing else.';

@ApiTags('agents')
@ApiBearerAuth('apiKey')
@Controller('api/v1/agents')
@ApiErrors(403)
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Post()
  @Access('orgAdmin')
  @Audited('agent.create', 'agent')
  @ApiOperation({ summary: 'Register a signet-agent', description: 'The agent key (sga_<id>_<secret>) is in this answer only; only a hash of its secret is stored.' })
  @ApiCreatedResponse({ type: CreatedAgentView })
  @ApiErrors(...BODY_ERRORS)
  create(@CurrentCaller() caller: OrgCaller, @Body() dto: CreateAgentDto) {
    return this.agents.create(caller, dto);
  }

  @Get()
  @Access('orgAdmin')
  @ApiOperation({ summary: "The org's agents, oldest first, with lastSeenAt and status online|offline" })
  @ApiOkResponse({ type: AgentPageView })
  list(@CurrentPrincipal() principal: OrgPrincipal, @Query() q: PageQueryDto) {
    return this.agents.list(principal, q);
  }

  @Get(':id')
  @Access('orgAdmin')
  @ApiOperation({ summary: 'One agent of the org, with its targets and the errors of its last discovery pass' })
  @ApiOkResponse({ type: AgentEnvelopeView })
  @ApiErrors(404)
  get(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string) {
    return this.agents.get(principal, id);
  }

  @Delete(':id')
  @HttpCode(204)
  @Access('orgAdmin')
  @Audited('agent.delete', 'agent')
  @ApiOperation({ summary: 'Remove an agent: its key stops working at once; its findings and deployments go with it' })
  @ApiNoContentResponse()
  @ApiErrors(404)
  async remove(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string): Promise<void> {
    await this.agents.remove(caller, id);
  }
}

@ApiTags('agents')
@ApiBearerAuth('apiKey')
@Controller('api/v1/discovered-certificates')
@ApiErrors(403)
export class DiscoveredCertificatesController {
  constructor(private readonly agents: AgentsService) {}

  @Get()
  @Access('orgAdmin')
  @ApiOperation({ summary: "Certificates the org's agents found on hosts (files) and endpoints (TLS), soonest expiry first" })
  @ApiOkResponse({ type: DiscoveredCertificatePageView })
  list(@CurrentPrincipal() principal: OrgPrincipal, @Query() q: ListDiscoveredDto) {
    return this.agents.listDiscovered(principal, q);
  }

  @Get(':id')
  @Access('orgAdmin')
  @ApiOperation({ summary: 'One discovered certificate' })
  @ApiOkResponse({ type: DiscoveredCertificateEnvelopeView })
  @ApiErrors(404)
  get(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string) {
    return this.agents.getDiscovered(principal, id);
  }

  @Post(':id/import')
  @Access('orgAdmin')
  @Audited('certificate.import', 'certificate')
  @ApiOperation({
    summary: "Put a discovered certificate in the org's inventory",
    description: 'source `discovered`, caId null, its chain as found; `locations` lists where the agents saw it. Expired ones are taken too. 409 when it is in the inventory already.',
  })
  @ApiCreatedResponse({ type: ImportedDiscoveredView })
  @ApiErrors(...BODY_ERRORS, 404, 409, 422)
  importOne(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Body() dto: ImportDiscoveredDto) {
    return this.agents.importDiscovered(caller, id, dto);
  }
}

@ApiTags('agents')
@ApiBearerAuth('apiKey')
@Controller('api/v1')
@ApiErrors(403)
export class DeploymentsController {
  constructor(private readonly deployments: DeploymentsService) {}

  @Post('certificates/:id/deploy')
  @HttpCode(202)
  @Access('orgKey')
  @Audited('deployment.create', 'deployment')
  @ApiOperation({
    summary: "Deploy a certificate to an agent's targets",
    description: "The agent writes certificate, key, chain and fullchain files atomically and runs the target's reload command. Needs issue permission on the certificate's CA (a certificate from elsewhere: an org admin). 409 agent_unavailable when the agent is offline; 400 names an unknown agent or target.",
  })
  @ApiAcceptedResponse({ type: DeploymentEnvelopeView })
  @ApiErrors(...BODY_ERRORS, 404, 409)
  deploy(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Body() dto: DeployCertificateDto) {
    return this.deployments.deploy(caller, id, dto);
  }

  @Get('deployments/:id')
  @Access('orgKey')
  @ApiOperation({ summary: 'A deployment and the outcome of each target' })
  @ApiOkResponse({ type: DeploymentEnvelopeView })
  @ApiErrors(404)
  get(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string) {
    return this.deployments.get(principal, id);
  }
}

/** What a signet-agent calls, with its own key, for itself. */
@ApiTags('agents')
@ApiSecurity('apiKey')
@ApiHeader({ name: 'X-Agent-API-Key', required: false, description: 'the agent key (or send it as Authorization: Bearer)' })
@Controller('api/v1/agent')
@ApiErrors(403)
export class AgentApiController {
  constructor(
    private readonly agents: AgentsService,
    private readonly deployments: DeploymentsService,
  ) {}

  @Post('heartbeat')
  @HttpCode(200)
  @Access('agent')
  @ApiOperation({ summary: 'The agent is alive; it says its host, version and deployment targets', description: AGENT_AUTH })
  @ApiOkResponse({ type: AgentEnvelopeView })
  @ApiErrors(...BODY_ERRORS)
  heartbeat(@CurrentCaller() caller: AgentCaller, @Body() dto: HeartbeatDto) {
    return this.agents.heartbeat(caller, dto);
  }

  @Post('discoveries')
  @HttpCode(200)
  @Access('agent')
  @ApiOperation({ summary: 'A batch of findings of a discovery pass (at most 500)', description: `${AGENT_AUTH} A finding the gateway cannot read is a finding-level error, never a refusal of the batch.` })
  @ApiOkResponse({ type: DiscoveryReportResultView })
  @ApiErrors(...BODY_ERRORS)
  report(@CurrentCaller() caller: AgentCaller, @Body() dto: DiscoveryReportDto) {
    return this.agents.report(caller, dto);
  }

  @Post('deployments/claim')
  @HttpCode(200)
  @Access('agent')
  @ApiOperation({
    summary: "Take the agent's next deployment (long poll up to waitSeconds)",
    description: `${AGENT_AUTH} job null when there is none. A certificate's private key comes sealed to recipientKey (X25519, by a signer): the gateway never holds it in the clear.`,
  })
  @ApiOkResponse({ type: ClaimAnswerView })
  @ApiErrors(...BODY_ERRORS)
  async claim(@CurrentCaller() caller: AgentCaller, @Body() dto: ClaimDeploymentDto) {
    return { job: await this.deployments.claim(caller, dto) };
  }

  @Post('deployments/:id/result')
  @HttpCode(200)
  @Access('agent')
  @Audited('deployment.report', 'deployment')
  @ApiOperation({ summary: 'The outcome of each target of a deployment', description: `${AGENT_AUTH} Repeating a report answers with the settled deployment.` })
  @ApiOkResponse({ type: DeploymentEnvelopeView })
  @ApiErrors(...BODY_ERRORS, 404)
  result(@CurrentCaller() caller: AgentCaller, @Param('id', RESOURCE_ID) id: string, @Body() dto: DeploymentResultDto) {
    return this.deployments.settle(caller, id, dto);
  }
}
