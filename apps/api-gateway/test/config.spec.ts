import { undocumentedVariables } from '@signet/testing';
import { ConfigError, loadConfig } from '@signet/service';
import { GatewayConfig } from '../src/app/gateway.config';

const ADMIN = 'x'.repeat(40);

describe('gateway configuration', () => {
  it('applies defaults and reads only the variables it declares', () => {
    const config = loadConfig(GatewayConfig, { PLATFORM_ADMIN_KEY: ADMIN, MASTER_KEY: 'must-not-be-read', PORT: '3100' });
    expect(config.PORT).toBe(3100);
    expect(config.BODY_LIMIT_BYTES).toBe(1024 * 1024);
    expect(config.DATABASE_URL).toMatch(/^postgres:\/\//);
    expect(Object.keys(config)).not.toContain('MASTER_KEY');
  });

  it.each([
    [{ PLATFORM_ADMIN_KEY: ADMIN, DATABASE_URL: 'nonsense' }, /DATABASE_URL must be a postgres:\/\/ URL/],
    [{ PLATFORM_ADMIN_KEY: ADMIN, REDIS_URL: 'localhost' }, /REDIS_URL must be a redis:\/\//],
    [{ PLATFORM_ADMIN_KEY: ADMIN, PORT: 'eighty' }, /PORT must be a port number/],
    [{ PLATFORM_ADMIN_KEY: ADMIN, PORT: '70000' }, /PORT must be a port number/],
    [{}, /PLATFORM_ADMIN_KEY is required/],
    [{ PLATFORM_ADMIN_KEY: 'short' }, /PLATFORM_ADMIN_KEY must be at least 32 characters/],
    [{ PLATFORM_ADMIN_KEY: ADMIN, LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ PLATFORM_ADMIN_KEY: ADMIN, TRUST_PROXY: '10.0.0.0/8,proxy.internal' }, /TRUST_PROXY must be comma-separated IP addresses or CIDRs/],
    [{ PLATFORM_ADMIN_KEY: ADMIN, TRUST_PROXY: '10.0.0.0/33' }, /TRUST_PROXY must be/],
  ])('refuses %j with one line naming the variable', (env, message) => {
    let error: unknown;
    try {
      loadConfig(GatewayConfig, env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('never echoes a value, which may be a secret', () => {
    expect(() => loadConfig(GatewayConfig, { PLATFORM_ADMIN_KEY: 'hunter2-secret' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    );
  });
});

describe('.env.example', () => {
  it('documents every variable api-gateway reads', () => {
    expect(undocumentedVariables(GatewayConfig)).toEqual([]);
  });
});
