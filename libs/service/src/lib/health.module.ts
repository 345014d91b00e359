/**
 * /healthz, /readyz and /metrics for every app (the gateway on its API port, signer and enroll on
 * their own plain-HTTP health ports).
 */
import { Controller, Get, HttpCode, Inject, Module, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { Response } from 'express';
import type Redis from 'ioredis';
import type { DataSource } from 'typeorm';
import { metricsRegistry } from './metrics';
import { postgresCheck, redisCheck, runChecks } from './readiness';
import { REDIS } from './redis.module';
import { Public } from './public.decorator';

@ApiExcludeController()
@Public()
@Controller()
export class HealthController {
  constructor(
    @Inject(getDataSourceToken()) private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  healthz() {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res() res: Response) {
    const report = await runChecks({ postgres: postgresCheck(this.dataSource), redis: redisCheck(this.redis) });
    res.status(report.status === 'ready' ? 200 : 503).json(report);
  }

  @Get('metrics')
  async metrics(@Res() res: Response) {
    res.setHeader('Content-Type', metricsRegistry.contentType);
    res.send(await metricsRegistry.metrics());
  }
}

@Module({ controllers: [HealthController] })
export class HealthModule {}
