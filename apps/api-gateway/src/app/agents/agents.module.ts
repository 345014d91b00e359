import { Module } from '@nestjs/common';
import { CasModule } from '../cas/cas.module';
import { CertificatesModule } from '../certificates/certificates.module';
import { AgentApiController, AgentsController, DeploymentsController, DiscoveredCertificatesController } from './agents.controller';
import { AgentsService } from './agents.service';
import { DeploymentsService } from './deployments.service';

/** Agents (API.md section 10): agents, what they discover, and deployments to them. */
@Module({
  imports: [CasModule, CertificatesModule],
  controllers: [AgentsController, DiscoveredCertificatesController, DeploymentsController, AgentApiController],
  providers: [AgentsService, DeploymentsService],
})
export class AgentsModule {}
