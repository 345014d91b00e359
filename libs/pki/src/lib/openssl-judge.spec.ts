/**
 * Every artifact the signing lib makes, judged by the openssl CLI, for every key algorithm.
 */
import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEY_ALGORITHMS, KeyAlgorithm } from './algorithms';
import { IssuedCertificate, buildCertificate, issuerOf, parseCertificate } from './certificate';
import { buildCrl } from './crl';
import { keyIdentifier } from './extensions';
import { normalizeSubjectAltNames } from './general-names';
import { KeyPair, generateKeyPair } from './keys';
import { assertWithinNameConstraints } from './name-constraints';
import { issuerHashes, buildOcspResponse, parseOcspRequest, parseOcspGetPath, OCSP_MALFORMED_REQUEST, OCSP_UNAUTHORIZED } from './ocsp';
import { exportPkcs12 } from './pkcs12';
import { certsOnlyPkcs7 } from './pkcs7';
import { toPem } from './pem';

const dir = mkdtempSync(join(tmpdir(), 'signet-pki-'));
const file = (name: string, data: string | Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
};
function openssl(...args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}\n${r.stderr}` };
}

const DAY = 86_400_000;
const now = new Date();
const notBefore = new Date(now.getTime() - 60_000);

interface Hierarchy {
  root: IssuedCertificate;
  rootKeys: KeyPair;
  intermediate: IssuedCertificate;
  intermediateKeys: KeyPair;
  leaf: IssuedCertificate;
  leafKeys: KeyPair;
}

async function hierarchy(algorithm: KeyAlgorithm): Promise<Hierarchy> {
  const [rootKeys, intermediateKeys, leafKeys] = await Promise.all([generateKeyPair(algorithm), generateKeyPair(algorithm), generateKeyPair(algorithm)]);
  const root = await buildCertificate({
    kind: 'root', subject: { commonName: `Root ${algorithm}`, organization: 'Signet Test', country: 'DE' },
    publicKey: rootKeys.publicKey, selfSignKey: rootKeys.privateKey, notBefore, notAfter: new Date(now.getTime() + 3650 * DAY), pathLength: 1,
  });
  const intermediate = await buildCertificate({
    kind: 'intermediate', subject: { commonName: `Intermediate ${algorithm}` }, publicKey: intermediateKeys.publicKey,
    issuer: issuerOf(root.der, rootKeys.privateKey), notBefore, notAfter: new Date(now.getTime() + 1825 * DAY), pathLength: 0,
    permittedDnsDomains: ['example.test'], crlUrl: 'http://pki.example.test/crl', ocspUrl: 'http://pki.example.test/ocsp',
  });
  const leaf = await buildCertificate({
    kind: 'leaf', subject: { commonName: 'www.example.test' }, publicKey: leafKeys.publicKey,
    issuer: issuerOf(intermediate.der, intermediateKeys.privateKey), notBefore, notAfter: new Date(now.getTime() + 90 * DAY),
    sans: normalizeSubjectAltNames({ dns: ['www.example.test', '*.api.example.test'], ip: ['192.0.2.1', '2001:db8::1'], email: ['ops@example.test'], uri: ['spiffe://example.test/web'] }),
    extendedKeyUsage: ['serverAuth', 'clientAuth'],
    crlUrl: 'http://pki.example.test/pki/cas/x/crl', ocspUrl: 'http://pki.example.test/pki/ocsp', caIssuersUrl: 'http://pki.example.test/pki/cas/x/ca.crt',
  });
  return { root, rootKeys, intermediate, intermediateKeys, leaf, leafKeys };
}

describe.each(KEY_ALGORITHMS.map((a) => [a]))('%s', (algorithm) => {
  let h: Hierarchy;
  const name = algorithm.replace(/\W/g, '');
  const paths = () => ({
    root: file(`${name}-root.pem`, h.root.pem),
    intermediate: file(`${name}-int.pem`, h.intermediate.pem),
    leaf: file(`${name}-leaf.pem`, h.leaf.pem),
    chain: file(`${name}-chain.pem`, h.intermediate.pem + h.root.pem),
  });

  beforeAll(async () => {
    h = await hierarchy(algorithm);
  });

  it('issues a chain that openssl verify accepts', () => {
    const p = paths();
    const result = openssl('verify', '-CAfile', p.root, '-untrusted', p.intermediate, p.leaf);
    expect(result.out).toContain(': OK');
    expect(result.ok).toBe(true);
  });

  it('puts exactly the expected extensions in the leaf, with RFC 5280 criticality', () => {
    const text = openssl('x509', '-in', paths().leaf, '-noout', '-text').out;
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature/);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(/X509v3 Subject Alternative Name:\s+DNS:www.example.test, DNS:\*.api.example.test, IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:1, email:ops@example.test, URI:spiffe:\/\/example.test\/web/);
    expect(text).toContain('X509v3 Subject Key Identifier');
    expect(text).toContain('X509v3 Authority Key Identifier');
    expect(text).toMatch(/CRL Distribution Points:\s+Full Name:\s+URI:http:\/\/pki.example.test\/pki\/cas\/x\/crl/);
    expect(text).toMatch(/OCSP - URI:http:\/\/pki.example.test\/pki\/ocsp/);
    expect(text).toMatch(/CA Issuers - URI:http:\/\/pki.example.test\/pki\/cas\/x\/ca.crt/);
    const expectedSignature = { 'ECDSA-P256': 'ecdsa-with-SHA256', 'ECDSA-P384': 'ecdsa-with-SHA384', Ed25519: 'ED25519' }[algorithm as string] ?? 'sha256WithRSAEncryption';
    expect(text).toContain(`Signature Algorithm: ${expectedSignature}`);
    const intText = openssl('x509', '-in', paths().intermediate, '-noout', '-text').out;
    expect(intText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(intText).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(intText).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+DNS:example.test/);
  });

  it('reads back what it wrote: serial, key identifiers, SANs, constraints', () => {
    const leaf = parseCertificate(h.leaf.pem);
    expect(leaf.serialNumber).toBe(h.leaf.serialNumber);
    expect(h.leaf.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
    expect(leaf.subjectKeyIdentifier).toEqual(keyIdentifier(leaf.spkiDer));
    expect(leaf.authorityKeyIdentifier).toEqual(parseCertificate(h.intermediate.der).subjectKeyIdentifier);
    expect(leaf.sans.dns).toEqual(['www.example.test', '*.api.example.test']);
    const intermediate = parseCertificate(h.intermediate.der);
    expect([intermediate.isCa, intermediate.pathLength, intermediate.permittedDnsDomains]).toEqual([true, 0, ['example.test']]);
    const serialFromOpenssl = openssl('x509', '-in', paths().leaf, '-noout', '-serial').out.trim().split('=')[1].split('\n')[0];
    expect(serialFromOpenssl).toBe(h.leaf.serialNumber);
  });

  it('refuses, like openssl, a leaf outside the permitted DNS domain', async () => {
    const outside = await buildCertificate({
      kind: 'leaf', subject: { commonName: 'evil.example.com' }, publicKey: h.leafKeys.publicKey,
      issuer: issuerOf(h.intermediate.der, h.intermediateKeys.privateKey), notBefore, notAfter: new Date(now.getTime() + DAY),
      sans: normalizeSubjectAltNames({ dns: ['evil.example.com'] }),
    });
    const p = paths();
    const result = openssl('verify', '-CAfile', p.root, '-untrusted', p.intermediate, file(`${name}-outside.pem`, outside.pem));
    expect(result.ok).toBe(false);
    expect(result.out).toMatch(/permitted subtree violation/);
    expect(() => assertWithinNameConstraints(['evil.example.com'], ['example.test'])).toThrow(/outside the CA's permitted domains/);
  });

  it('signs a CRL that openssl verifies and that revokes the leaf with its reason', async () => {
    const crl = await buildCrl({
      issuer: issuerOf(h.intermediate.der, h.intermediateKeys.privateKey),
      crlNumber: 7,
      thisUpdate: notBefore,
      nextUpdate: new Date(now.getTime() + DAY),
      entries: (async function* () {
        yield { serialNumber: h.leaf.serialNumber, revokedAt: notBefore, reason: 'keyCompromise' as const };
        yield { serialNumber: '0AB1', revokedAt: notBefore, reason: null };
      })(),
    });
    expect(crl.revokedCount).toBe(2);
    const p = paths();
    const crlFile = file(`${name}.crl`, toPem('X509 CRL', crl.der));
    const checked = openssl('crl', '-in', crlFile, '-noout', '-CAfile', p.chain, '-verify', '-text');
    expect(checked.out).toMatch(/verify OK/);
    expect(checked.out).toMatch(/X509v3 CRL Number:\s+7/);
    expect(checked.out).toContain(`Serial Number: ${h.leaf.serialNumber}`);
    expect(checked.out).toMatch(/CRL Reason Code:\s+Key Compromise/);
    const revoked = openssl('verify', '-crl_check', '-CRLfile', crlFile, '-CAfile', p.root, '-untrusted', p.intermediate, p.leaf);
    expect(revoked.ok).toBe(false);
    expect(revoked.out).toMatch(/certificate revoked/);
  });

  it('signs OCSP responses that openssl accepts: good, then revoked with reason', async () => {
    const p = paths();
    const intermediate = parseCertificate(h.intermediate.der);
    const certId = { hashAlgorithm: 'sha1' as const, ...issuerHashes(intermediate), serialNumber: h.leaf.serialNumber };
    const issuer = issuerOf(intermediate, h.intermediateKeys.privateKey);
    const window = { thisUpdate: notBefore, nextUpdate: new Date(now.getTime() + DAY) };
    const good = await buildOcspResponse({ issuer, certId, certStatus: { status: 'good' }, ...window });
    const goodOut = openssl('ocsp', '-respin', file(`${name}-good.der`, good), '-issuer', p.intermediate, '-cert', p.leaf, '-CAfile', p.chain, '-no_nonce');
    expect(goodOut.out).toMatch(/Response verify OK/);
    expect(goodOut.out).toMatch(/: good/);
    const revoked = await buildOcspResponse({ issuer, certId, certStatus: { status: 'revoked', revokedAt: notBefore, reason: 'superseded' }, ...window });
    const revokedOut = openssl('ocsp', '-respin', file(`${name}-revoked.der`, revoked), '-issuer', p.intermediate, '-cert', p.leaf, '-CAfile', p.chain, '-no_nonce');
    expect(revokedOut.out).toMatch(/Response verify OK/);
    expect(revokedOut.out).toMatch(/: revoked/);
    expect(revokedOut.out).toMatch(/Reason: superseded/);
  });

  it('parses requests openssl makes (with and without nonce, POST and GET forms)', () => {
    const p = paths();
    for (const nonceArgs of [[], ['-no_nonce']]) {
      const reqFile = join(dir, `${name}-req${nonceArgs.length}.der`);
      expect(openssl('ocsp', '-issuer', p.intermediate, '-cert', p.leaf, ...nonceArgs, '-reqout', reqFile).ok).toBe(true);
      const der = readFileSync(reqFile);
      for (const request of [parseOcspRequest(der), parseOcspGetPath(encodeURIComponent(der.toString('base64')))]) {
        expect(request.certIds).toEqual([{ hashAlgorithm: 'sha1', ...issuerHashes(parseCertificate(h.intermediate.der)), serialNumber: h.leaf.serialNumber }]);
        expect(request.nonce === null).toBe(nonceArgs.length > 0);
      }
    }
  });

  it('exports PKCS#12 and PKCS#7 bundles openssl reads', () => {
    const p12 = exportPkcs12(h.leafKeys.privateKey, [h.leaf.der, h.intermediate.der, h.root.der], 'correct horse');
    const info = openssl('pkcs12', '-info', '-in', file(`${name}.p12`, p12), '-passin', 'pass:correct horse', '-nodes');
    expect(info.ok).toBe(true);
    expect(info.out).toContain('BEGIN PRIVATE KEY');
    expect(info.out.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    expect(openssl('pkcs12', '-info', '-in', join(dir, `${name}.p12`), '-passin', 'pass:wrong', '-nodes').ok).toBe(false);
    const printed = openssl('pkcs7', '-inform', 'DER', '-in', file(`${name}.p7b`, certsOnlyPkcs7([h.leaf.der, h.intermediate.der])), '-print_certs');
    expect(printed.ok).toBe(true);
    expect(printed.out).toContain('subject=CN = www.example.test');
    expect(printed.out).toContain(`subject=CN = Intermediate ${algorithm}`);
  });

  it('builds certificates for a key given as SPKI DER (CSR mode) just the same', async () => {
    const spki = createPublicKey(h.leafKeys.privateKey).export({ type: 'spki', format: 'der' });
    const again = await buildCertificate({
      kind: 'leaf', subject: parseCertificate(h.leaf.der).subjectDer, publicKey: spki,
      issuer: issuerOf(h.intermediate.der, h.intermediateKeys.privateKey), notBefore, notAfter: new Date(now.getTime() + DAY),
      sans: normalizeSubjectAltNames({ dns: ['www.example.test'] }),
    });
    const p = paths();
    expect(openssl('verify', '-CAfile', p.root, '-untrusted', p.intermediate, file(`${name}-spki.pem`, again.pem)).ok).toBe(true);
  });
});

describe('unsigned OCSP answers', () => {
  it('are the RFC 6960 status-only responses openssl understands', () => {
    expect(openssl('ocsp', '-respin', file('malformed.der', OCSP_MALFORMED_REQUEST), '-resp_text').out).toMatch(/malformedrequest/i);
    expect(openssl('ocsp', '-respin', file('unauthorized.der', OCSP_UNAUTHORIZED), '-resp_text').out).toMatch(/unauthorized/i);
  });
});
