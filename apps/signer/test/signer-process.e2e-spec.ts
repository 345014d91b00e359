import { loadConfig } from '@signet/service';
import { expectOpsEndpoints, undocumentedVariables, freePort, spawnService, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { randomBytes } from 'node:crypto';
import { SignerConfig } from '../src/app/signer.config';

const MASTER_KEY = randomBytes(32).toString('base64');

describe('signer configuration', () => {
  it('requires MASTER_KEY and names it in one line', () => {
    expect(() => loadConfig(SignerConfig, {})).toThrow(/^MASTER_KEY is required$/);
    expect(() => loadConfig(SignerConfig, { MASTER_KEY: 'too-short' })).toThrow(/MASTER_KEY must be 32 random bytes in base64/);
  });

  it('never echoes the bad value', () => {
    expect(() => loadConfig(SignerConfig, { MASTER_KEY: 'secret-looking-value' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('secret-looking-value') }),
    );
  });
});

describe('signer process', () => {
  it('serves health, readiness and metrics on SIGNER_HEALTH_PORT and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const signer = spawnService('signer', { ...testServiceEnv(), MASTER_KEY, SIGNER_HEALTH_PORT: String(port) });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, signer);
      await expectOpsEndpoints(`http://127.0.0.1:${port}`);
    } finally {
      expect(await stopService(signer)).toBe(0);
    }
    expect(signer.output()).not.toContain(MASTER_KEY);
  });

  it('refuses to start without MASTER_KEY, in one line', async () => {
    const signer = spawnService('signer', testServiceEnv());
    expect(await signer.exited).not.toBe(0);
    expect(signer.output().trim()).toBe('signet signer: invalid configuration: MASTER_KEY is required');
  });
});

describe('.env.example', () => {
  it('documents every variable signer reads', () => {
    expect(undocumentedVariables(SignerConfig)).toEqual([]);
  });
});
