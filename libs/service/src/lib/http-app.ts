/**
 * The one way an HTTP Nest app of Signet starts: pino logger, body limit, the API error shape,
 * validation, request metrics, graceful shutdown.
 */
import { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { Logger } from 'nestjs-pino';
import { ApiExceptionFilter } from './exception.filter';
import { httpRequestDuration, httpRequestsTotal, initMetrics } from './metrics';
import { createValidationPipe } from './validation';

export interface HttpAppOptions {
  app: string;
  /** Max JSON body size in bytes. */
  bodyLimitBytes?: number;
  /** Extra set-up (raw body parsers, swagger, ...) before listen. */
  configure?: (app: NestExpressApplication) => void | Promise<void>;
}

function requestMetrics(req: Request, res: Response, next: NextFunction) {
  const end = httpRequestDuration.startTimer();
  res.on('finish', () => {
    // The matched route pattern, not the URL: ids in paths would explode label cardinality.
    const route = (req.route?.path as string | undefined) ?? (res.statusCode === 404 ? 'unmatched' : req.baseUrl || 'other');
    const labels = { method: req.method, route, status: String(res.statusCode) };
    end(labels);
    httpRequestsTotal.inc(labels);
  });
  next();
}

export async function createHttpApp(module: Type<unknown>, options: HttpAppOptions): Promise<NestExpressApplication> {
  initMetrics(options.app);
  const app = await NestFactory.create<NestExpressApplication>(module, { bufferLogs: true, bodyParser: false });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(requestMetrics);
  app.useBodyParser('json', { limit: options.bodyLimitBytes ?? 1024 * 1024 });
  app.useGlobalFilters(new ApiExceptionFilter());
  app.useGlobalPipes(createValidationPipe());
  app.enableShutdownHooks();
  await options.configure?.(app);
  return app;
}

/** Stop taking connections, let in-flight requests finish, then close pools (Nest's shutdown hooks). */
export async function closeHttpApp(app: INestApplication): Promise<void> {
  await app.close();
}
