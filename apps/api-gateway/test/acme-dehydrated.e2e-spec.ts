/**
 * Debian's dehydrated (bash, curl and openssl; an RSA account key, so RS256 JWS) against the ACME
 * server (issue 13, "judged by real clients"): it registers with an EAB key from its config, obtains a
 * certificate by http-01 with its tokens written to a WELLKNOWN directory that a small web server of
 * the test serves on the port the gateway validates, renews it (`--force`) and revokes it (`--revoke`,
 * by the account key). Each certificate verifies with openssl against the profile's root, is in the API
 * as `source: "acme"`, and OCSP says revoked after the revoke.
 */
import { AcmeStack, ToolResult, WebRoot, expectIssued, expectRenewed, expectRevoked, serveWellKnown, startAcmeStack } from '@signet/testing';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

jest.setTimeout(120_000);

describe('dehydrated against the ACME server', () => {
  let stack: AcmeStack;
  let webRoot: WebRoot | undefined;

  beforeAll(async () => {
    stack = await startAcmeStack({ name: 'dehydrated' });
  }, 180_000);

  afterAll(async () => {
    await webRoot?.close();
    await stack?.close();
  });

  it('http-01 through a served WELLKNOWN directory: registers with EAB, obtains, renews and revokes a certificate for two names', async () => {
    const names = ['dehydrated.acme.test', 'www.dehydrated.acme.test'];
    const base = stack.dirFor('dehydrated');
    const wellKnown = stack.dirFor('dehydrated/wellknown');
    const { keyId, hmacKey } = await stack.eab();
    const config = join(base, 'config');
    writeFileSync(
      config,
      [
        `CA="${stack.directory}"`,
        'CHALLENGETYPE="http-01"',
        `BASEDIR="${base}"`,
        `WELLKNOWN="${wellKnown}"`,
        'KEY_ALGO=prime256v1',
        'CONTACT_EMAIL="dehydrated@acme.test"',
        `EAB_KID="${keyId}"`,
        `EAB_HMAC_KEY="${hmacKey}"`,
        '',
      ].join('\n'),
    );
    webRoot = await serveWellKnown(wellKnown, stack.http01Port);
    const dehydrated = async (args: string[]): Promise<ToolResult> => {
      const result = await stack.tools.run('dehydrated', ['--config', config, ...args], { env: { CURL_CA_BUNDLE: stack.gatewayTrustFile }, cwd: base });
      if (result.code !== 0 || /ERROR/.test(result.output)) throw new Error(stack.tools.explain(result, `dehydrated ${args.join(' ')} failed`));
      return result;
    };
    const domains = names.flatMap((name) => ['--domain', name]);
    const live = join(base, 'certs', names[0]);
    const files = { cert: join(live, 'cert.pem'), chain: join(live, 'chain.pem') };

    await dehydrated(['--register', '--accept-terms']);
    await dehydrated(['--cron', ...domains]);
    const first = await expectIssued(stack, files, { names });
    // The gateway fetched the tokens from the web root dehydrated wrote them to.
    expect(webRoot.requests.filter((path) => path.startsWith('/.well-known/acme-challenge/')).length).toBeGreaterThanOrEqual(names.length);

    await dehydrated(['--cron', '--force', ...domains]);
    const renewed = await expectRenewed(stack, files, first.leaf, { names });

    // dehydrated renames what it revoked (cert.pem-revoked): the copy taken above is checked.
    await dehydrated(['--revoke', files.cert]);
    await expectRevoked(stack, renewed.copy, [first.copy]);
  });
});
