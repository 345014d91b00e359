import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEY_ALGORITHMS } from './algorithms';
import { certificationRequest } from './certification-request';
import { parseCsr } from './csr';
import { generateKeyPair } from './keys';
import { toPem } from './pem';

describe('certificationRequest', () => {
  it.each(KEY_ALGORITHMS.filter((a) => a !== 'RSA-4096'))('writes a %s request that parseCsr and openssl read back, signature verified', async (algorithm) => {
    const { privateKey, publicKey } = await generateKeyPair(algorithm);
    const der = await certificationRequest(privateKey, publicKey, {
      subject: { commonName: 'www.example.test' }, sans: { dns: ['www.example.test', '*.api.example.test'], ip: [], email: [], uri: [] },
    });
    const parsed = await parseCsr(der);
    expect(parsed.commonName).toBe('www.example.test');
    expect(parsed.sanDns).toEqual(['www.example.test', '*.api.example.test']);
    const dir = mkdtempSync(join(tmpdir(), 'signet-csr-'));
    try {
      writeFileSync(join(dir, 'req.pem'), toPem('CERTIFICATE REQUEST', der));
      const text = execFileSync('openssl', ['req', '-in', join(dir, 'req.pem'), '-noout', '-verify', '-text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(text).toContain('DNS:www.example.test, DNS:*.api.example.test');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes an empty subject and no attribute when there are no names', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ECDSA-P256');
    const parsed = await parseCsr(await certificationRequest(privateKey, publicKey, { subject: {}, sans: { dns: [], ip: [], email: [], uri: [] } }));
    expect(parsed.commonName).toBeUndefined();
    expect(parsed.sanDns).toEqual([]);
  });
});
