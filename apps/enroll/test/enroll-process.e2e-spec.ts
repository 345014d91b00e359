import { loadConfig } from '@signet/service';
import { expectOpsEndpoints, undocumentedVariables, freePort, spawnService, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { EnrollConfig } from '../src/app/enroll.config';

describe('enroll configuration', () => {
  it('has the documented defaults and never reads MASTER_KEY', () => {
    const config = loadConfig(EnrollConfig, { MASTER_KEY: 'x'.repeat(44) });
    expect(config.ENROLL_PORT).toBe(8443);
    expect(config.ENROLL_HEALTH_PORT).toBe(8081);
    expect(Object.keys(config)).not.toContain('MASTER_KEY');
  });

  it('rejects a malformed port in one line naming it', () => {
    expect(() => loadConfig(EnrollConfig, { ENROLL_HEALTH_PORT: 'eighty' })).toThrow(/ENROLL_HEALTH_PORT/);
  });
});

describe('enroll process', () => {
  it('serves health, readiness and metrics on ENROLL_HEALTH_PORT and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const enroll = spawnService('enroll', { ...testServiceEnv(), ENROLL_HEALTH_PORT: String(port), ENROLL_PORT: String(await freePort()) });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, enroll);
      await expectOpsEndpoints(`http://127.0.0.1:${port}`);
    } finally {
      expect(await stopService(enroll)).toBe(0);
    }
  });
});

describe('.env.example', () => {
  it('documents every variable enroll reads', () => {
    expect(undocumentedVariables(EnrollConfig)).toEqual([]);
  });
});
