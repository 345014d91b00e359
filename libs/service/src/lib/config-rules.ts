/**
 * Reusable validation rules for environment variables shared by several apps.
 */
import { IsBoolean, Matches, IsIn, IsInt, Max, Min } from 'class-validator';
import { Transform, Type } from 'class-transformer';

const postgresUrl = /^postgres(ql)?:\/\/[^\s]+$/;
const redisUrl = /^rediss?:\/\/[^\s]+$/;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const IsPostgresUrl = (name: string) =>
  Matches(postgresUrl, { message: `${name} must be a postgres:// URL` });

export const IsRedisUrl = (name: string) => Matches(redisUrl, { message: `${name} must be a redis:// or rediss:// URL` });

export const IsPort = (name: string): PropertyDecorator => (target, key) => {
  Type(() => Number)(target, key);
  IsInt({ message: `${name} must be a port number` })(target, key);
  Min(1, { message: `${name} must be a port number` })(target, key);
  Max(65535, { message: `${name} must be a port number` })(target, key);
};

/** An integer variable within [min, max], with one message naming it and the range. */
export const IsIntBetween = (name: string, min: number, max: number): PropertyDecorator => (target, key) => {
  const message = `${name} must be an integer between ${min} and ${max}`;
  Type(() => Number)(target, key);
  IsInt({ message })(target, key);
  Min(min, { message })(target, key);
  Max(max, { message })(target, key);
};

/** A true/false switch: `true`/`1` and `false`/`0` from the environment, anything else refused naming it. */
export const IsBooleanFlag = (name: string): PropertyDecorator => (target, key) => {
  Transform(({ value }) => (value === 'false' || value === '0' ? false : value === 'true' || value === '1' ? true : value))(target, key);
  IsBoolean({ message: `${name} must be true or false` })(target, key);
};

export const IsLogLevel = (name: string) => IsIn(LOG_LEVELS as unknown as string[], { message: `${name} must be one of ${LOG_LEVELS.join(', ')}` });

/** Settings every app has: its stores and its logging. */
export class CommonConfig {
  @IsPostgresUrl('DATABASE_URL')
  DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/signet';

  @IsRedisUrl('REDIS_URL')
  REDIS_URL = 'redis://127.0.0.1:6379';

  @IsLogLevel('LOG_LEVEL')
  LOG_LEVEL = 'info';

  @IsIntBetween('DATABASE_POOL_SIZE', 1, 200)
  DATABASE_POOL_SIZE = 10;

  /** Prefix of every BullMQ key, so several deployments (or test runs) can share one Redis. */
  @Matches(/^[A-Za-z0-9:_-]{1,64}$/, { message: 'QUEUE_PREFIX must be 1-64 characters of A-Z a-z 0-9 : _ -' })
  QUEUE_PREFIX = 'signet';
}
