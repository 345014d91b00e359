import { BadRequestException, NotFoundException } from '@nestjs/common';
import { IsString, MinLength } from 'class-validator';
import { ApiError } from './errors';
import { CommonConfig, IsIntBetween } from './config-rules';
import { ConfigError, loadConfig } from './config';
import { toApiError } from './exception.filter';
import { runChecks } from './readiness';
import { attachLazyRequestLogger, withoutSecrets } from './logging';
import pino from 'pino';
import type { IncomingMessage } from 'node:http';

class ExampleConfig extends CommonConfig {
  @IsString()
  @MinLength(8, { message: 'TOKEN must be at least 8 characters' })
  TOKEN: string;

  @IsIntBetween('WORKERS', 1, 4)
  WORKERS = 2;
}

describe('loadConfig', () => {
  it('applies defaults, converts types and returns only declared variables', () => {
    const config = loadConfig(ExampleConfig, { TOKEN: 'long-enough', WORKERS: '3', UNRELATED_SECRET: 'x' });
    expect(config).toMatchObject({ TOKEN: 'long-enough', WORKERS: 3, REDIS_URL: 'redis://127.0.0.1:6379', QUEUE_PREFIX: 'signet' });
    expect(Object.keys(config)).not.toContain('UNRELATED_SECRET');
  });

  it('names a missing variable plainly, and every bad one in a single line, never echoing values', () => {
    expect(() => loadConfig(ExampleConfig, {})).toThrow(new ConfigError('TOKEN is required'));
    let message = '';
    try {
      loadConfig(ExampleConfig, { TOKEN: 'short', WORKERS: '9', DATABASE_URL: 'mysql://secret@host/db' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('; ').sort()).toEqual(['DATABASE_URL must be a postgres:// URL', 'TOKEN must be at least 8 characters', 'WORKERS must be an integer between 1 and 4']);
    expect(message).not.toContain('secret');
  });
});

describe('toApiError', () => {
  it('keeps ApiErrors, maps Nest exceptions and body-parser errors, and leaves the unexpected alone', () => {
    const own = new ApiError('conflict', 'taken');
    expect(toApiError(own)).toBe(own);
    expect(toApiError(new NotFoundException('Cannot GET /nope'))).toMatchObject({ code: 'not_found', message: 'route not found' });
    expect(toApiError(new BadRequestException('Validation failed (uuid is expected)'))).toMatchObject({ code: 'bad_request', status: 400 });
    expect(toApiError({ type: 'entity.too.large', limit: 10 })).toMatchObject({ code: 'payload_too_large', details: { limitBytes: 10 } });
    expect(toApiError({ type: 'entity.parse.failed' })).toMatchObject({ code: 'bad_request', message: 'request body is not valid JSON' });
    expect(toApiError(new Error('boom'))).toBeNull();
  });
});

describe('runChecks', () => {
  it('is ready only when every check answers within the deadline', async () => {
    expect((await runChecks({ a: async () => 1 })).status).toBe('ready');
    const report = await runChecks({ a: async () => 1, b: () => new Promise(() => undefined), c: async () => { throw new Error('down'); } }, 50);
    expect(report.status).toBe('not_ready');
    expect(report.checks.a.status).toBe('up');
    expect(report.checks.b).toMatchObject({ status: 'down', error: 'b did not answer within 50 ms' });
    expect(report.checks.c).toMatchObject({ status: 'down', error: 'down' });
  });
});

describe('withoutSecrets', () => {
  it('keeps a password query value (a PKCS#12 download) out of logged URLs, and leaves other URLs alone', () => {
    expect(withoutSecrets('/api/v1/certificates/1/download?format=p12&password=hunter2&legacy=true')).toBe('/api/v1/certificates/1/download?format=p12&password=[redacted]&legacy=true');
    expect(withoutSecrets('/x?Password=a%20b')).toBe('/x?Password=[redacted]');
    expect(withoutSecrets('/api/v1/certificates?page=2')).toBe('/api/v1/certificates?page=2');
  });
});

describe('attachLazyRequestLogger (levels that write no access line)', () => {
  it("gives a request a logger that writes nothing below the level, and the request's id on what it writes", () => {
    const lines: string[] = [];
    const root = pino({ level: 'warn', serializers: { req: (req: { id?: string }) => ({ id: req.id }) } }, { write: (line: string) => lines.push(line) });
    const req = { id: 'req-7', method: 'GET', url: '/x' } as IncomingMessage & { id: string; log?: pino.Logger };
    attachLazyRequestLogger(root, req);
    req.log!.info('not written');
    req.log!.warn({ detail: 1 }, 'written');
    req.log!.child({ more: 2 }).error('also written');
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ level: 40, req: { id: 'req-7' }, detail: 1, msg: 'written' }),
      expect.objectContaining({ level: 50, req: { id: 'req-7' }, more: 2, msg: 'also written' }),
    ]);
    const quiet = {} as IncomingMessage & { log?: pino.Logger };
    attachLazyRequestLogger(undefined, quiet);
    expect(quiet.log).toBeUndefined();
  });
});
