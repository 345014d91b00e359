import { buildCertificateSync, issuerOf } from './certificate';
import { isPkiError } from './errors';
import { normalizeSubjectAltNames } from './general-names';
import { assertWithinNameConstraints, dnsNameWithin, namesOutside } from './name-constraints';
import { DAY, p256, scratch, smallHierarchy } from './testing/openssl-cli';

describe('dnsNameWithin (RFC 5280 4.2.1.10)', () => {
  it.each([
    ['example.com', 'example.com', true],
    ['www.example.com', 'example.com', true],
    ['a.b.example.com', 'example.com', true],
    ['*.x.example.com', 'example.com', true],
    ['*.example.com', 'example.com', true],
    ['WWW.Example.COM', 'example.com', true],
    ['badexample.com', 'example.com', false],
    ['example.com.evil.test', 'example.com', false],
    ['com', 'example.com', false],
    ['*.example.com', 'x.example.com', false],
    ['example.com', '.example.com', false],
    ['www.example.com', '.example.com', true],
    ['anything.test', '', true],
  ])('%s within "%s": %s', (name, domain, expected) => {
    expect(dnsNameWithin(name, domain)).toBe(expected);
  });

  it('names every refused name, permitted and excluded subtrees together', () => {
    expect(namesOutside(['a.example.com', 'b.other.test'], [])).toEqual([]);
    expect(namesOutside(['a.example.com', 'b.other.test'], ['example.com'])).toEqual(['b.other.test']);
    expect(namesOutside(['a.example.com', 'x.bad.example.com'], ['example.com'], ['bad.example.com'])).toEqual(['x.bad.example.com']);
    try {
      assertWithinNameConstraints(['evil.test'], ['example.com']);
      throw new Error('not refused');
    } catch (error) {
      expect(isPkiError(error, 'name_constraint_violation')).toBe(true);
      expect((error as Error).message).toContain('evil.test');
    }
  });
});

describe('agrees with openssl verify on a name-constrained intermediate', () => {
  const { file, openssl } = scratch('nc');
  // ".dot.test": only names strictly below; "example.test": the domain and everything below.
  const h = smallHierarchy({ permittedDnsDomains: ['example.test', '.dot.test'] });
  const root = file('root.pem', h.root.pem);
  const intermediate = file('int.pem', h.intermediate.pem);
  const leafKey = p256();

  it.each([
    ['example.test'],
    ['www.example.test'],
    ['*.api.example.test'],
    ['www.dot.test'],
    ['dot.test'],
    ['badexample.test'],
    ['evil.example.com'],
    ['example.test.evil.com'],
  ])('%s', (name) => {
    const leaf = buildCertificateSync({
      kind: 'leaf', subject: { commonName: 'nc' }, publicKey: leafKey.publicKey, issuer: issuerOf(h.intermediate.der, h.intermediateKey),
      notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY), sans: normalizeSubjectAltNames({ dns: [name] }),
    });
    const verdict = openssl('verify', '-CAfile', root, '-untrusted', intermediate, file(`${name.replace(/\*/g, 'star')}.pem`, leaf.pem));
    const ours = namesOutside([name], ['example.test', '.dot.test']).length === 0;
    expect(verdict.ok).toBe(ours);
    if (!verdict.ok) expect(verdict.out).toMatch(/permitted subtree violation/);
  });
});
