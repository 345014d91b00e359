/**
 * Debian's Caddy against the ACME server (issue 13, "judged by real clients"): automatic HTTPS for a
 * site under acme.test with the profile's directory as its `acme_ca` and an EAB key. Caddy's HTTP and
 * HTTPS ports are the ones the gateway validates http-01 and tls-alpn-01 on, so it may solve either.
 * It must then serve that site over TLS with a certificate that verifies against the profile's root.
 * Caddy has no revoke command: the certificate is revoked with its own key (revokeCert by certificate
 * key, certbot `revoke --key-path`), after which OCSP says revoked, and Caddy, whose OCSP check then
 * sees the revocation, replaces the certificate: the renewal, checked like the first issuance.
 */
import { AcmeStack, LongRunning, expectIssued, expectRevoked, pemCertificates, pollFor, runCertbot, startAcmeStack, tlsHandshake } from '@signet/testing';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

jest.setTimeout(120_000);

const SITE = 'caddy.acme.test';

describe('caddy against the ACME server', () => {
  let stack: AcmeStack;
  let caddy: LongRunning | undefined;

  beforeAll(async () => {
    stack = await startAcmeStack({ name: 'caddy' });
  }, 180_000);

  afterAll(async () => {
    await caddy?.stop();
    await stack?.close();
  });

  const context = () => `--- caddy ---\n${caddy?.output().slice(-8000) ?? ''}\n--- server ---\n${stack.serverLog().slice(-8000)}`;

  /** The certificate and key Caddy keeps in its storage for SITE (under a folder named after the issuer), once there. */
  const stored = (storage: string) => {
    const all = existsSync(storage) ? readdirSync(storage, { recursive: true }).map(String) : [];
    const cert = all.find((f) => f.endsWith(`/${SITE}/${SITE}.crt`));
    const key = all.find((f) => f.endsWith(`/${SITE}/${SITE}.key`));
    return cert && key ? { cert: join(storage, cert), key: join(storage, key) } : null;
  };

  /** The leaf Caddy serves for SITE now, when openssl verifies it against the profile's root. */
  const served = async () => {
    const handshake = await tlsHandshake(stack.tools, stack.tlsAlpn01Port, SITE, stack.rootFile);
    return handshake.verified ? handshake.chain[0] : null;
  };

  it('automatic HTTPS: obtains a certificate, serves it, and replaces it once it is revoked', async () => {
    const { keyId, hmacKey } = await stack.eab();
    const storage = join(stack.dirFor('caddy'), 'storage');
    const caddyfile = join(stack.dirFor('caddy'), 'Caddyfile');
    writeFileSync(
      caddyfile,
      [
        '{',
        '\tadmin off',
        `\thttp_port ${stack.http01Port}`,
        `\thttps_port ${stack.tlsAlpn01Port}`,
        `\tacme_ca ${stack.directory}`,
        `\tacme_ca_root ${stack.gatewayTrustFile}`,
        '\tacme_eab {',
        `\t\tkey_id ${keyId}`,
        `\t\tmac_key ${hmacKey}`,
        '\t}',
        '\temail caddy@acme.test',
        `\tstorage file_system {\n\t\troot ${storage}\n\t}`,
        '\tskip_install_trust',
        '}',
        `https://${SITE}:${stack.tlsAlpn01Port} {`,
        '\trespond "served by caddy"',
        '}',
        '',
      ].join('\n'),
    );
    const home = stack.dirFor('caddy/home');
    const startCaddy = () =>
      stack.tools.start('caddy', ['run', '--config', caddyfile, '--adapter', 'caddyfile'], {
        env: { HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config') },
      });
    caddy = startCaddy();

    // Issued and served: the leaf on the wire is the one in Caddy's storage, and it checks out.
    const files = await pollFor(async () => stored(storage), 90_000, () => `caddy stored no certificate for ${SITE}\n${context()}`);
    const firstServed = await pollFor(served, 30_000, () => `caddy does not serve a verifying certificate for ${SITE}\n${context()}`);
    const first = await expectIssued(stack, { cert: files.cert, chain: files.cert }, { names: [SITE] });
    expect(firstServed.fingerprint256).toBe(first.leaf.fingerprint256);
    const page = await stack.tools.run('curl', ['-sS', '--max-time', '20', '--cacert', stack.rootFile, '--resolve', `${SITE}:${stack.tlsAlpn01Port}:127.0.0.1`, `https://${SITE}:${stack.tlsAlpn01Port}/`]);
    expect({ code: page.code, body: page.stdout }).toEqual({ code: 0, body: 'served by caddy' });

    // Revoked by the certificate's own key (no account): OCSP says so.
    await runCertbot(stack, stack.dirFor('caddy/certbot'), [
      'revoke', '--server', stack.directory, '--cert-path', files.cert, '--key-path', files.key, '--reason', 'keycompromise', '--no-delete-after-revoke',
    ]);
    await expectRevoked(stack, first.copy);

    // Caddy keeps a good OCSP answer (in memory and in its storage) until half its validity has passed.
    // Restarted without the stored one, it asks again, learns of the revocation and replaces the
    // certificate: renewed, served, checked.
    await caddy.stop();
    expect(existsSync(join(storage, 'ocsp'))).toBe(true);
    rmSync(join(storage, 'ocsp'), { recursive: true, force: true });
    caddy = startCaddy();
    const renewedServed = await pollFor(
      async () => {
        const leaf = await served();
        return leaf && leaf.serialNumber !== first.leaf.serialNumber ? leaf : null;
      },
      90_000,
      () => `caddy kept serving the revoked certificate ${first.leaf.serialNumber}\n${context()}`,
    );
    const renewed = await expectIssued(stack, { cert: files.cert, chain: files.cert }, { names: [SITE] });
    expect(renewed.leaf.fingerprint256).toBe(renewedServed.fingerprint256);
    expect(pemCertificates(files.cert)[1].fingerprint256).toBe(pemCertificates(stack.issuingFile)[0].fingerprint256);
  });
});
