import { readFileSync } from 'node:fs';
import { buildCertificateSync, issuerOf, parseCertificate } from './certificate';
import { normalizeSubjectAltNames } from './general-names';
import { issuersAmbiguous } from './issuer-ambiguity';
import { DAY, p256, scratch, smallHierarchy } from './testing/openssl-cli';

const { file, openssl, path } = scratch('ambiguity');
const h = smallHierarchy();
const real = parseCertificate(h.root.der);

/** A self-made CA (openssl, its own key) with the real root's subject and the given key identifier. */
const forge = (name: string, ski: string | null) => {
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-days', '30', '-subj', '/O=Signet Test/CN=Spec Root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', `subjectKeyIdentifier=${ski ?? 'none'}`];
  if (!ski) args.push('-addext', 'authorityKeyIdentifier=none');
  const r = openssl(...args);
  expect(r.out).not.toMatch(/error/i);
  return parseCertificate(readFileSync(path(`${name}.pem`), 'utf8'));
};

describe('issuersAmbiguous', () => {
  it('finds a self-made certificate with the same subject and key identifier, which makes openssl fail the real chain', () => {
    const fake = forge('same-ski', real.subjectKeyIdentifier!.toString('hex').toUpperCase().match(/../g)!.join(':'));
    expect(fake.subjectDer.equals(real.subjectDer)).toBe(true);
    expect(fake.subjectKeyIdentifier!.equals(real.subjectKeyIdentifier!)).toBe(true);
    expect(issuersAmbiguous(real, fake)).toBe(true);
    expect(issuersAmbiguous(fake, real)).toBe(true);

    // Why it matters: a leaf of the real root stops verifying once the fake sits beside it in the store.
    const leafKeys = p256();
    const leaf = buildCertificateSync({
      kind: 'leaf', subject: { commonName: 'device-1' }, publicKey: leafKeys.publicKey, issuer: issuerOf(h.root.der, h.rootKey),
      notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY), sans: normalizeSubjectAltNames({ dns: ['device-1'] }), extendedKeyUsage: ['clientAuth'],
    });
    file('leaf.pem', leaf.pem);
    file('real.pem', h.root.pem);
    file('both.pem', `${readFileSync(path('same-ski.pem'), 'utf8')}${h.root.pem}`);
    expect(openssl('verify', '-CAfile', 'real.pem', 'leaf.pem').ok).toBe(true);
    expect(openssl('verify', '-CAfile', 'both.pem', 'leaf.pem').ok).toBe(false);
  });

  it('finds one without a key identifier (nothing tells them apart but the signature)', () => {
    expect(issuersAmbiguous(real, forge('no-ski', null))).toBe(true);
  });

  it('tells apart a same-named CA with its own key identifier, the same certificate, and another name', () => {
    expect(issuersAmbiguous(real, forge('own-ski', 'hash'))).toBe(false);
    expect(issuersAmbiguous(real, real)).toBe(false);
    expect(issuersAmbiguous(real, parseCertificate(h.intermediate.der))).toBe(false);
  });
});
