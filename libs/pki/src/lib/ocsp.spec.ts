import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { buildCertificateSync, issuerOf, parseCertificate } from './certificate';
import { children, content, encoding, explicit, integer, octetString, oid, readDer, sequence } from './der';
import { isPkiError } from './errors';
import { normalizeSubjectAltNames } from './general-names';
import {
  OCSP_INTERNAL_ERROR, OCSP_MALFORMED_REQUEST, OCSP_TRY_LATER, OCSP_UNAUTHORIZED, allIssuerHashes, buildOcspResponse, issuerHashes,
  ocspResponseStatus, parseOcspGetPath, parseOcspRequest,
} from './ocsp';
import { DAY, p256, scratch, smallHierarchy } from './testing/openssl-cli';

const { file, openssl, path } = scratch('ocsp');
const h = smallHierarchy();
const issuer = issuerOf(h.intermediate.der, h.intermediateKey);
const leaf = buildCertificateSync({
  kind: 'leaf', subject: { commonName: 'ocsp.example.test' }, publicKey: p256().publicKey, issuer,
  notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY), sans: normalizeSubjectAltNames({ dns: ['ocsp.example.test'] }),
});
const files = { int: file('int.pem', h.intermediate.pem), leaf: file('leaf.pem', leaf.pem), chain: file('chain.pem', h.intermediate.pem + h.root.pem) };
const window = () => ({ thisUpdate: new Date(Date.now() - 60_000), nextUpdate: new Date(Date.now() + DAY) });

/** A request made by openssl; options (a digest such as -sha256 must come before -cert) go first. */
function request(name: string, ...args: string[]): Buffer {
  const r = openssl('ocsp', ...args, '-issuer', files.int, '-cert', files.leaf, '-reqout', name);
  expect(r.ok).toBe(true);
  return readFileSync(path(name));
}

const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    return isPkiError(error) ? error.code : `untyped ${error}`;
  }
  return 'accepted';
};

describe('parseOcspRequest', () => {
  it('reads SHA-1 and SHA-256 CertIDs openssl makes, matching issuerHashes of the CA', () => {
    const hashes = allIssuerHashes(h.intermediate.pem);
    expect(hashes.sha1).toEqual(issuerHashes(parseCertificate(h.intermediate.der)));
    expect(hashes.sha256.issuerKeyHash).toHaveLength(32);
    const sha1 = parseOcspRequest(request('sha1.der', '-no_nonce'));
    expect(sha1).toEqual({ certIds: [{ hashAlgorithm: 'sha1', ...hashes.sha1, serialNumber: leaf.serialNumber }], nonce: null });
    const sha256 = parseOcspRequest(request('sha256.der', '-sha256'));
    expect(sha256.certIds).toEqual([{ hashAlgorithm: 'sha256', ...hashes.sha256, serialNumber: leaf.serialNumber }]);
    // openssl's nonce: extnValue = OCTET STRING (16 random octets), kept whole so it can be echoed.
    expect(sha256.nonce?.subarray(0, 2).toString('hex')).toBe('0410');
    expect(sha256.nonce).toHaveLength(18);
  });

  it('reads the GET form: base64, URL-encoded, or base64url', () => {
    const der = request('get.der');
    const b64 = der.toString('base64');
    for (const form of [b64, encodeURIComponent(b64), der.toString('base64url'), b64.replace(/\+/g, ' ')]) {
      expect(parseOcspGetPath(form)).toEqual(parseOcspRequest(der));
    }
  });

  it('refuses garbage, truncation, trailing bytes and odd structures with invalid_request', () => {
    const der = request('bad.der');
    const bodies = [
      Buffer.alloc(0), Buffer.from('hello world'), Buffer.alloc(5000, 0x30), der.subarray(0, der.length - 3), Buffer.concat([der, Buffer.from([0])]),
      Buffer.from('3000', 'hex'), Buffer.from('30023000', 'hex'), Buffer.from('3004' + '3002' + '3000', 'hex'),
      request('sha512.der', '-sha512', '-no_nonce'), // only SHA-1 and SHA-256 CertIDs are answered
      Buffer.from(der.toString('hex').replace(/^30/, '31'), 'hex'),
    ];
    for (const body of bodies) expect(refusal(() => parseOcspRequest(body))).toBe('invalid_request');
    for (const bad of ['%%%', '!!!', '', 'QUJD$', '%E0%A4%A']) expect(refusal(() => parseOcspGetPath(bad))).toBe('invalid_request');
    expect(refusal(() => parseOcspRequest('not a buffer' as unknown as Buffer))).toBe('invalid_request');
  });

  it('refuses version 2 and nonces of 0 or more than 128 octets (RFC 8954)', () => {
    const [tbs] = children(readDer(request('v.der', '-no_nonce')));
    const requestList = Buffer.from(encoding(children(tbs)[0]));
    const withTbs = (...fields: Buffer[]) => sequence(sequence(...fields));
    const nonceExt = (value: Buffer) => explicit(2, sequence(sequence(oid('1.3.6.1.5.5.7.48.1.2'), octetString(value))));
    expect(refusal(() => parseOcspRequest(withTbs(requestList)))).toBe('accepted');
    expect(refusal(() => parseOcspRequest(withTbs(explicit(0, integer(0)), requestList)))).toBe('accepted');
    expect(refusal(() => parseOcspRequest(withTbs(explicit(0, integer(1)), requestList)))).toBe('invalid_request');
    expect(refusal(() => parseOcspRequest(withTbs(requestList, nonceExt(octetString(Buffer.alloc(32, 1))))))).toBe('accepted');
    expect(refusal(() => parseOcspRequest(withTbs(requestList, nonceExt(octetString(Buffer.alloc(0))))))).toBe('invalid_request');
    expect(refusal(() => parseOcspRequest(withTbs(requestList, nonceExt(octetString(Buffer.alloc(129, 1))))))).toBe('invalid_request');
  });
});

describe('buildOcspResponse', () => {
  const certId = () => ({ hashAlgorithm: 'sha1' as const, ...issuerHashes(h.intermediate.der), serialNumber: leaf.serialNumber });
  const check = (name: string, der: Buffer, ...extra: string[]) =>
    openssl('ocsp', '-respin', file(name, der), '-issuer', files.int, '-cert', files.leaf, '-CAfile', files.chain, ...extra).out;
  /** openssl prints the verdict on stderr and the status on stdout: both must be there. */
  const verifiedAs = (out: string, status: string) => {
    expect(out).toContain('Response verify OK');
    expect(out).toContain(`: ${status}`);
  };

  it('good, revoked (time and reason) and unknown, each accepted by openssl', async () => {
    const good = await buildOcspResponse({ issuer, certId: certId(), certStatus: { status: 'good' }, ...window() });
    expect(ocspResponseStatus(good)).toBe(0);
    verifiedAs(check('good.der', good, '-no_nonce'), 'good');
    const revokedAt = new Date(Date.UTC(2026, 10, 20, 9, 15, 0));
    const revoked = await buildOcspResponse({ issuer, certId: certId(), certStatus: { status: 'revoked', revokedAt, reason: 'keyCompromise' }, ...window() });
    const out = check('revoked.der', revoked, '-no_nonce');
    verifiedAs(out, 'revoked');
    expect(out).toContain('Reason: keyCompromise');
    expect(out).toContain('Revocation Time: Nov 20 09:15:00 2026 GMT');
    const unknown = await buildOcspResponse({ issuer, certId: certId(), certStatus: { status: 'unknown' }, ...window() });
    verifiedAs(check('unknown.der', unknown, '-no_nonce'), 'unknown');
  });

  it('is signed by the CA, names it byKey, and carries producedAt, thisUpdate and nextUpdate', async () => {
    const times = { producedAt: new Date(Date.UTC(2026, 10, 22, 1, 2, 3)), thisUpdate: new Date(Date.UTC(2026, 10, 22)), nextUpdate: new Date(Date.UTC(2026, 10, 29)) };
    const der = await buildOcspResponse({ issuer, certId: certId(), certStatus: { status: 'good' }, ...times });
    const text = openssl('ocsp', '-respin', file('text.der', der), '-resp_text', '-noverify').out;
    expect(text).toContain(`Responder Id: ${issuer.keyIdentifier.toString('hex').toUpperCase()}`);
    expect(text).toContain('Produced At: Nov 22 01:02:03 2026 GMT');
    expect(text).toContain('This Update: Nov 22 00:00:00 2026 GMT');
    expect(text).toContain('Next Update: Nov 29 00:00:00 2026 GMT');
    expect(text).not.toContain('Certificate:'); // no certs: the issuing CA answers itself
    // The SingleResponse, exactly: certID, good [0] IMPLICIT NULL, thisUpdate, [0] EXPLICIT nextUpdate.
    const [, bytes] = children(readDer(der));
    const basic = readDer(content(children(children(bytes)[0])[1]));
    const [responseData] = children(basic);
    const [, , responses] = children(responseData);
    const gt = (s: string) => '180f' + Buffer.from(s).toString('hex');
    expect(Buffer.from(encoding(children(children(responses)[0])[1])).toString('hex')).toBe('8000');
    expect(Buffer.from(encoding(children(responses)[0])).toString('hex').endsWith('8000' + gt('20261122000000Z') + 'a011' + gt('20261129000000Z'))).toBe(true);
  });

  it('echoes the request nonce, which openssl checks against its request', async () => {
    const req = request('nonce-req.der');
    const { certIds, nonce } = parseOcspRequest(req);
    const withNonce = await buildOcspResponse({ issuer, certId: certIds[0], certStatus: { status: 'good' }, nonce, ...window() });
    // Only -reqin: with -cert openssl would make a fresh request with a nonce of its own.
    const judge = (name: string, der: Buffer) => openssl('ocsp', '-reqin', path('nonce-req.der'), '-respin', file(name, der), '-CAfile', files.chain, '-verify_other', files.int);
    const out = judge('nonce.der', withNonce);
    expect(out.ok).toBe(true);
    expect(out.out).toContain('Response verify OK');
    expect(out.out).not.toMatch(/nonce/i);
    const without = await buildOcspResponse({ issuer, certId: certIds[0], certStatus: { status: 'good' }, ...window() });
    expect(judge('no-nonce.der', without).out).toMatch(/WARNING: no nonce in response/);
    const other = await buildOcspResponse({ issuer, certId: certIds[0], certStatus: { status: 'good' }, nonce: Buffer.from('0410' + '11'.repeat(16), 'hex'), ...window() });
    expect(judge('other-nonce.der', other).out).toMatch(/Nonce Verify error/);
  });

  it('names an imported CA by the hash of its key even when its SKI was derived otherwise', async () => {
    const made = openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'imp.key', '-subj', '/CN=Imported',
      '-addext', 'subjectKeyIdentifier=0102030405', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature', '-out', 'imp.pem');
    expect(made.ok).toBe(true);
    const caPem = readFileSync(path('imp.pem'), 'utf8');
    const imported = issuerOf(parseCertificate(caPem), createPrivateKey(readFileSync(path('imp.key'))));
    const child = buildCertificateSync({
      kind: 'leaf', subject: { commonName: 'child' }, publicKey: p256().publicKey, issuer: imported,
      notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY),
    });
    const der = await buildOcspResponse({
      issuer: imported, certId: { hashAlgorithm: 'sha1', ...issuerHashes(caPem), serialNumber: child.serialNumber }, certStatus: { status: 'good' }, ...window(),
    });
    const out = openssl('ocsp', '-respin', file('imp.der', der), '-issuer', path('imp.pem'), '-cert', file('child.pem', child.pem), '-CAfile', path('imp.pem'), '-no_nonce').out;
    verifiedAs(out, 'good');
  });
});

describe('unsigned error responses (RFC 6960 4.2.1)', () => {
  it('are the constant bytes of OCSPResponse { responseStatus } and openssl names each', () => {
    const cases: [Buffer, string, RegExp][] = [
      [OCSP_MALFORMED_REQUEST, '30030a0101', /malformedrequest/i],
      [OCSP_INTERNAL_ERROR, '30030a0102', /internalerror/i],
      [OCSP_TRY_LATER, '30030a0103', /trylater/i],
      [OCSP_UNAUTHORIZED, '30030a0106', /unauthorized/i],
    ];
    for (const [der, hex, name] of cases) {
      expect(der.toString('hex')).toBe(hex);
      expect(openssl('ocsp', '-respin', file(`${hex}.der`, der), '-resp_text').out).toMatch(name);
    }
  });
});
