/**
 * Debian's lego against the ACME server (issue 13, "judged by real clients"), once per challenge type:
 * http-01 (lego's own server), tls-alpn-01 (RFC 8737, lego's own TLS server) and dns-01 through the
 * `exec` provider (a script that puts the TXT record in the test's DNS server, which lego also reads back
 * through --dns.resolvers). Each run registers with an EAB key, obtains (`run`), renews (`renew --days
 * 1000`, so at once) and revokes (`revoke`, by the account key); each certificate verifies with openssl
 * against the profile's root, is in the API as `source: "acme"`, and OCSP says revoked after the revoke.
 */
import { AcmeStack, ToolResult, expectIssued, expectRenewed, expectRevoked, startAcmeStack } from '@signet/testing';
import { join } from 'node:path';

jest.setTimeout(120_000);

describe('lego against the ACME server', () => {
  let stack: AcmeStack;

  beforeAll(async () => {
    stack = await startAcmeStack({ name: 'lego' });
  }, 180_000);

  afterAll(async () => {
    await stack?.close();
  });

  /** Obtain, renew and revoke with one lego account (its own --path and EAB key) and one challenge type. */
  async function lifecycle(label: string, names: string[], verifyAs: string[], challenge: string[], env: Record<string, string> = {}) {
    const path = stack.dirFor(label);
    const { keyId, hmacKey } = await stack.eab();
    const lego = async (command: string, args: string[] = []): Promise<ToolResult> => {
      const result = await stack.tools.run(
        'lego',
        [
          '--server', stack.directory, '--accept-tos', '--email', `${label}@acme.test`, '--eab', `--kid=${keyId}`, `--hmac=${hmacKey}`,
          '--path', path, ...names.flatMap((name) => ['--domains', name]), ...challenge, command, ...args,
        ],
        { env: { LEGO_CA_CERTIFICATES: stack.gatewayTrustFile, ...env } },
      );
      if (result.code !== 0) throw new Error(stack.tools.explain(result, `lego ${command} exited ${result.code}`));
      return result;
    };
    // lego names its files after the first domain, a wildcard's `*` as `_`.
    const base = join(path, 'certificates', names[0].replace('*', '_'));
    const files = { cert: `${base}.crt`, chain: `${base}.issuer.crt` };

    await lego('run');
    const first = await expectIssued(stack, files, { names, verifyAs });
    await lego('renew', ['--days', '1000', '--no-random-sleep']);
    await expectRenewed(stack, files, first.leaf, { names, verifyAs });
    await lego('revoke', ['--keep', '--reason', '4']);
    await expectRevoked(stack, files.cert, [first.copy]);
  }

  it('http-01: obtains, renews and revokes a certificate for two names', async () => {
    const names = ['lego-http.acme.test', 'www.lego-http.acme.test'];
    await lifecycle('lego-http', names, names, ['--http', '--http.port', `:${stack.http01Port}`]);
  });

  it('tls-alpn-01: obtains, renews and revokes a certificate', async () => {
    const names = ['lego-tls.acme.test'];
    await lifecycle('lego-tls', names, names, ['--tls', '--tls.port', `:${stack.tlsAlpn01Port}`]);
  });

  it('dns-01 with the exec provider: obtains, renews and revokes a certificate for a name and its wildcard', async () => {
    const names = ['lego-dns.acme.test', '*.lego-dns.acme.test'];
    await lifecycle(
      'lego-dns',
      names,
      ['lego-dns.acme.test', 'any.lego-dns.acme.test'],
      ['--dns', 'exec', '--dns.resolvers', stack.dns.address, '--dns.disable-cp'],
      // lego solves an exec provider's names one after another, EXEC_SEQUENCE_INTERVAL apart (60 s unless set).
      { EXEC_PATH: stack.dnsControl.hooks.legoExec, EXEC_POLLING_INTERVAL: '1', EXEC_PROPAGATION_TIMEOUT: '60', EXEC_SEQUENCE_INTERVAL: '1' },
    );
    const presented = stack.dnsControl.calls.filter((c) => c.op === 'present' && c.name === '_acme-challenge.lego-dns.acme.test');
    expect(new Set(presented.map((c) => c.value)).size).toBeGreaterThanOrEqual(2);
  });
});
