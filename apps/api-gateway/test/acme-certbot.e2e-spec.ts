/**
 * Debian's certbot against the ACME server (issue 13, "judged by real clients"): an account bound with
 * an EAB key, a certificate for names under acme.test by standalone http-01 and by manual dns-01 (its
 * hooks put the TXT records in the test's DNS server), a forced renewal, and revokeCert: by the account
 * key for the one, by the certificate's own key for the other. Each certificate verifies with openssl
 * against the profile's root, is in the API as `source: "acme"`, and OCSP says revoked after the revoke.
 */
import { AcmeStack, certbotDirs, expectIssued, expectRenewed, expectRevoked, pemCertificates, runCertbot, startAcmeStack } from '@signet/testing';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

jest.setTimeout(120_000);

describe('certbot against the ACME server', () => {
  let stack: AcmeStack;

  beforeAll(async () => {
    stack = await startAcmeStack({ name: 'certbot' });
  }, 180_000);

  afterAll(async () => {
    await stack?.close();
  });

  const certbot = (dir: string, args: string[]) => runCertbot(stack, dir, args);

  /**
   * Obtain (certonly), check, renew (--force-renewal), check, revoke, check: the lifecycle both tests run.
   * `verifyAs` are concrete host names the certificate must be good for (a wildcard's stand-in).
   */
  async function lifecycle(label: string, names: string[], verifyAs: string[], challenge: string[], revokeBy: 'account' | 'certificate key') {
    const dir = stack.dirFor(label);
    const { config } = certbotDirs(dir);
    const { keyId, hmacKey } = await stack.eab();
    // name=value: a base64url key may begin with '-', which certbot's argparse takes for an option.
    await certbot(dir, [
      'certonly', '--server', stack.directory, '--agree-tos', '--email', `${label}@acme.test`, `--eab-kid=${keyId}`, `--eab-hmac-key=${hmacKey}`,
      '--cert-name', label, ...names.flatMap((name) => ['-d', name]), ...challenge,
    ]);
    const live = join(config, 'live', label);
    const files = { cert: join(live, 'cert.pem'), chain: join(live, 'chain.pem') };
    const first = await expectIssued(stack, files, { names, verifyAs });
    // The full chain starts with the leaf and the issuing CA.
    expect(pemCertificates(join(live, 'fullchain.pem')).map((c) => c.fingerprint256).slice(0, 2)).toEqual([first.leaf.fingerprint256, pemCertificates(stack.issuingFile)[0].fingerprint256]);

    // Run by hand (not from cron): without the random pause certbot takes before a non-interactive renewal.
    await certbot(dir, ['renew', '--force-renewal', '--no-random-sleep-on-renew', '--cert-name', label]);
    await expectRenewed(stack, files, first.leaf, { names, verifyAs });
    // Two versions of the lineage on disk: certbot really renewed rather than kept the old one.
    expect(readdirSync(join(config, 'archive', label)).filter((f) => /^cert\d+\.pem$/.test(f)).sort()).toEqual(['cert1.pem', 'cert2.pem']);

    const byKey = revokeBy === 'certificate key' ? ['--key-path', join(live, 'privkey.pem')] : [];
    await certbot(dir, ['revoke', '--server', stack.directory, '--cert-path', files.cert, ...byKey, '--reason', 'keycompromise', '--no-delete-after-revoke']);
    // Only the one named: the first certificate (superseded on disk, not revoked) is still good.
    await expectRevoked(stack, files.cert, [first.copy]);
  }

  it('standalone http-01: obtains, renews and revokes (by the account key) a certificate for two names', async () => {
    const names = ['certbot-http.acme.test', 'www.certbot-http.acme.test'];
    await lifecycle('certbot-http', names, names, ['--standalone', '--http-01-port', String(stack.http01Port), '--http-01-address', '127.0.0.1'], 'account');
  });

  it('manual dns-01 with hook scripts: obtains, renews and revokes (by the certificate key) a certificate for a name and its wildcard', async () => {
    const names = ['certbot-dns.acme.test', '*.certbot-dns.acme.test'];
    await lifecycle(
      'certbot-dns',
      names,
      ['certbot-dns.acme.test', 'any.certbot-dns.acme.test'],
      ['--manual', '--preferred-challenges', 'dns', '--manual-auth-hook', stack.dnsControl.hooks.certbotAuth, '--manual-cleanup-hook', stack.dnsControl.hooks.certbotCleanup],
      'certificate key',
    );
    // The hooks ran: two TXT values on the one name (the name's and the wildcard's), cleaned up after.
    const calls = stack.dnsControl.calls.filter((c) => c.name === '_acme-challenge.certbot-dns.acme.test');
    expect(new Set(calls.filter((c) => c.op === 'present').map((c) => c.value)).size).toBeGreaterThanOrEqual(2);
    expect(calls.filter((c) => c.op === 'cleanup').length).toBe(calls.filter((c) => c.op === 'present').length);
  });
});
