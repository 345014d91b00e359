/**
 * `deployTargets` of a certificate (PATCH /api/v1/certificates/:id): where each renewal of it is
 * deployed. Kept apart from the deployments so the certificates module can take it without the agents.
 */
import { Injectable, Module } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { AgentRow, agentById, deployTargetsOf, replaceDeployTargets } from '@signet/persistence';
import { ApiError } from '@signet/service';
import { DataSource, EntityManager } from 'typeorm';
import type { DeployTargetDto } from './agent.dto';

/** The org's agent named by a body field, or 400 naming the field (an id in a body names no resource of the path). */
export async function agentNamedIn(manager: EntityManager, orgId: string, agentId: string, field: string): Promise<AgentRow> {
  const agent = await agentById(manager, orgId, agentId);
  if (!agent) throw ApiError.validation([{ field, messages: [`agent ${agentId} does not exist`] }]);
  return agent;
}

/** Of `names`, those the agent has no target of, by the names its configuration reported. */
export function unknownTargets(agent: AgentRow, names: string[]): string[] {
  const known = new Set(agent.targets.map((t) => t.name));
  return names.filter((n) => !known.has(n));
}

@Injectable()
export class DeployTargetsService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Replace the certificate's targets, in `manager`'s transaction. Each names an agent of the org and,
   * once the agent has reported its configuration, one of its targets (an agent not yet started is
   * taken at its word).
   */
  async replace(orgId: string, certificateId: string, targets: DeployTargetDto[], manager: EntityManager): Promise<void> {
    const agents = new Map<string, AgentRow>();
    for (const [i, t] of targets.entries()) {
      const agent = agents.get(t.agentId) ?? (await agentNamedIn(manager, orgId, t.agentId, `deployTargets.${i}.agentId`));
      agents.set(agent.id, agent);
      if (agent.targets.length && unknownTargets(agent, [t.target]).length) {
        throw ApiError.validation([{ field: `deployTargets.${i}.target`, messages: [`agent ${agent.name} has no target named ${t.target}`] }]);
      }
    }
    await replaceDeployTargets(manager, orgId, certificateId, targets);
  }

  async of(certificateId: string): Promise<{ agentId: string; target: string }[]> {
    return (await deployTargetsOf(this.dataSource.manager, [certificateId])).map((t) => ({ agentId: t.agentId, target: t.target }));
  }
}

@Module({ providers: [DeployTargetsService], exports: [DeployTargetsService] })
export class DeployTargetsModule {}
