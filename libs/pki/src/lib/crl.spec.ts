import { randomBytes } from 'node:crypto';
import { buildCertificateSync, issuerOf } from './certificate';
import { buildCrl, CrlEntry, CrlEntryText, crlShardOf } from './crl';
import { DerNode, children, content, encoding, readDer, readOid, time } from './der';
import { isPkiError } from './errors';
import { normalizeSubjectAltNames } from './general-names';
import { toPem } from './pem';
import { REVOCATION_REASONS, RevocationReason } from './revocation-reasons';
import { DAY, p256, scratch, smallHierarchy } from './testing/openssl-cli';

const { file, openssl } = scratch('crl');
const h = smallHierarchy();
const issuer = issuerOf(h.intermediate.der, h.intermediateKey);
const chain = file('chain.pem', h.intermediate.pem + h.root.pem);
const window = { thisUpdate: new Date(Date.UTC(2026, 10, 22, 12)), nextUpdate: new Date(Date.UTC(2026, 10, 29, 12)) };
const at = new Date(Date.UTC(2026, 10, 21, 8, 30, 15, 999));

/** The revokedCertificates entries of a CRL, as DER. */
function entriesOf(der: Buffer): Buffer[] {
  const [tbs] = children(readDer(der));
  const list = children(tbs).find((node, i) => i >= 5 && node.tag === 0x30);
  return list ? children(list).map((e) => Buffer.from(encoding(e))) : [];
}

async function refusal(entries: CrlEntry[], over: object = {}): Promise<string> {
  try {
    await buildCrl({ issuer, crlNumber: 1, ...window, entries, ...over });
  } catch (error) {
    return isPkiError(error) ? error.code : `untyped ${error}`;
  }
  return 'built';
}

describe('buildCrl', () => {
  it('writes each entry exactly: minimal positive serial, UTCTime to the second, reason only when not unspecified', async () => {
    const crl = await buildCrl({
      issuer, crlNumber: 1, ...window,
      entries: [
        { serialNumber: '80', revokedAt: at, reason: 'keyCompromise' },
        { serialNumber: '00007F', revokedAt: at, reason: 'unspecified' },
        { serialNumber: 'abc', revokedAt: at },
      ],
    });
    const utc = '170d' + Buffer.from('261121083015Z').toString('hex');
    expect(entriesOf(crl.der).map((e) => e.toString('hex'))).toEqual([
      '3021' + '02020080' + utc + '300c' + '300a' + '0603551d15' + '0403' + '0a0101',
      '3012' + '02017f' + utc,
      '3013' + '02020abc' + utc,
    ]);
  });

  it('is verified by openssl, with its number, AKI, dates and every reason shown', async () => {
    const reasons = Object.keys(REVOCATION_REASONS) as RevocationReason[];
    const crl = await buildCrl({
      issuer, crlNumber: 2n ** 70n, ...window,
      entries: (async function* () {
        for (const [i, reason] of reasons.entries()) yield { serialNumber: `1${i}`, revokedAt: new Date(at.getTime() + i * 1000), reason };
      })(),
    });
    expect(crl.revokedCount).toBe(reasons.length);
    const out = openssl('crl', '-in', file('reasons.crl', toPem('X509 CRL', crl.der)), '-noout', '-CAfile', chain, '-verify', '-text').out;
    expect(out).toMatch(/verify OK/);
    expect(out).toMatch(/Version 2 \(0x1\)/);
    expect(out).toMatch(/X509v3 CRL Number:\s+1180591620717411303424\n/);
    expect(out).toMatch(/X509v3 Authority Key Identifier:\s+[0-9A-F:]{59}/);
    expect(out).toContain('Last Update: Nov 22 12:00:00 2026 GMT');
    expect(out).toContain('Next Update: Nov 29 12:00:00 2026 GMT');
    for (const text of ['Key Compromise', 'CA Compromise', 'Affiliation Changed', 'Superseded', 'Cessation Of Operation', 'Certificate Hold', 'Privilege Withdrawn']) {
      expect(out).toContain(text);
    }
    expect(out.match(/Serial Number:/g)).toHaveLength(reasons.length);
    expect(out).toContain('Revocation Date: Nov 21 08:30:22 2026 GMT'); // each entry its own second
  });

  it('an empty CRL omits revokedCertificates and still verifies', async () => {
    const crl = await buildCrl({ issuer, crlNumber: 1, ...window, entries: [] });
    expect(crl.revokedCount).toBe(0);
    expect(entriesOf(crl.der)).toEqual([]);
    const out = openssl('crl', '-in', file('empty.crl', toPem('X509 CRL', crl.der)), '-noout', '-CAfile', chain, '-verify', '-text').out;
    expect(out).toMatch(/verify OK/);
    expect(out).toContain('No Revoked Certificates.');
  });

  it('takes pages of entries (arrays) from the source as well as single entries', async () => {
    const one = await buildCrl({ issuer, crlNumber: 3, ...window, entries: [{ serialNumber: '01', revokedAt: at }, { serialNumber: '02', revokedAt: at }, { serialNumber: '03', revokedAt: at }] });
    const paged = await buildCrl({
      issuer, crlNumber: 3, ...window,
      entries: (async function* () {
        yield [{ serialNumber: '01', revokedAt: at }, { serialNumber: '02', revokedAt: at }];
        yield { serialNumber: '03', revokedAt: at };
      })(),
    });
    expect(paged.revokedCount).toBe(3);
    expect(entriesOf(paged.der)).toEqual(entriesOf(one.der));
  });

  it('grows past its first reservation (tens of thousands of entries) and openssl reads every one', async () => {
    const count = 40_000; // ~1.6 MiB: several times the reservation made when no count is expected
    const crl = await buildCrl({
      issuer, crlNumber: 9, ...window,
      entries: (function* () {
        for (let i = 1; i <= count; i++) yield { serialNumber: i.toString(16).toUpperCase(), revokedAt: at, reason: i % 2 ? ('superseded' as const) : null };
      })(),
    });
    expect(crl.revokedCount).toBe(count);
    const entries = entriesOf(crl.der);
    expect(entries).toHaveLength(count);
    // 40000 = 0x9C40: the high bit is set, so the INTEGER needs a leading zero byte.
    expect(content(children(readDer(entries[count - 1]))[0]).toString('hex')).toBe('009c40');
    const out = openssl('crl', '-in', file('big.crl', crl.der), '-inform', 'DER', '-noout', '-CAfile', chain, '-verify').out;
    expect(out).toMatch(/verify OK/);
  });

  it('makes openssl verify -crl_check report a revoked leaf as revoked', async () => {
    const leaf = buildCertificateSync({
      kind: 'leaf', subject: { commonName: 'gone.example.test' }, publicKey: p256().publicKey, issuer,
      notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY), sans: normalizeSubjectAltNames({ dns: ['gone.example.test'] }),
    });
    const now = { thisUpdate: new Date(Date.now() - 60_000), nextUpdate: new Date(Date.now() + DAY) };
    const crl = await buildCrl({ issuer, crlNumber: 4, ...now, entries: [{ serialNumber: leaf.serialNumber, revokedAt: new Date(), reason: 'cessationOfOperation' }] });
    const rootCrl = await buildCrl({ issuer: issuerOf(h.root.der, h.rootKey), crlNumber: 1, ...now, entries: [] });
    const args = ['-CAfile', file('root.pem', h.root.pem), '-untrusted', file('int.pem', h.intermediate.pem), '-CRLfile', file('int.crl', toPem('X509 CRL', crl.der))];
    const verdict = openssl('verify', '-crl_check', ...args, file('gone.pem', leaf.pem));
    expect(verdict.ok).toBe(false);
    expect(verdict.out).toMatch(/certificate revoked/);
    // With every CRL of the chain present (crl_check_all) the unrevoked intermediate passes and the leaf still fails.
    const all = openssl('verify', '-crl_check_all', ...args, '-CRLfile', file('root.crl', toPem('X509 CRL', rootCrl.der)), file('gone.pem', leaf.pem));
    expect(all.out).toMatch(/certificate revoked/);
  });

  it('refuses bad serials, reasons and dates with invalid_request', async () => {
    for (const serialNumber of ['', '00', '0000', 'xyz', '12 34', 'A'.repeat(41), '-1', 'ü1']) {
      expect(await refusal([{ serialNumber, revokedAt: at }])).toBe('invalid_request');
    }
    expect(await refusal([{ serialNumber: 'A'.repeat(40), revokedAt: at }])).toBe('built');
    expect(await refusal([{ serialNumber: '01', revokedAt: at, reason: 'removeFromCRL' as RevocationReason }])).toBe('invalid_request');
    expect(await refusal([{ serialNumber: '01', revokedAt: new Date('x') }])).toBe('invalid_request');
    expect(await refusal([], { nextUpdate: window.thisUpdate })).toBe('invalid_request');
  });
});

/** The extnValue content (inside the OCTET STRING) and criticality of extension `oid` in an extension list. */
function extensionIn(extensions: DerNode, oid: string): { critical: boolean; value: Buffer } | null {
  for (const ext of children(extensions)) {
    const parts = children(ext);
    if (readOid(parts[0]) !== oid) continue;
    return { critical: parts.length === 3 && content(parts[1])[0] === 0xff, value: Buffer.from(content(parts[parts.length - 1])) };
  }
  return null;
}
const crlExtensions = (der: Buffer) => children(children(children(readDer(der))[0]).find((n) => n.tag === 0xa0)!)[0];
const certificateExtensions = (der: Buffer) => children(children(children(readDer(der))[0]).find((n) => n.tag === 0xa3)!)[0];

describe('sharded CRLs (RFC 5280 5.2.5 IssuingDistributionPoint)', () => {
  const url = 'http://pki.example.test/pki/cas/7d0c2f4e-0000-4000-8000-000000000001/crl/3';
  const now = { thisUpdate: new Date(Date.now() - 60_000), nextUpdate: new Date(Date.now() + DAY) };
  const leafIn = (cn: string) => buildCertificateSync({
    kind: 'leaf', subject: { commonName: cn }, publicKey: p256().publicKey, issuer, crlUrl: url,
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY), sans: normalizeSubjectAltNames({ dns: [cn] }),
  });

  it('names the distribution point in a critical IDP whose name is the certificate CDP field byte for byte; openssl shows it and checks leaves against it', async () => {
    const revoked = leafIn('revoked.shard.test');
    const kept = leafIn('kept.shard.test');
    const crl = await buildCrl({
      issuer, crlNumber: 7, ...now, scope: { url, onlyContainsUserCerts: true },
      entries: [{ serialNumber: revoked.serialNumber, revokedAt: new Date(), reason: 'keyCompromise' }],
    });
    const idp = extensionIn(crlExtensions(crl.der), '2.5.29.28')!;
    expect(idp.critical).toBe(true);
    const [dpName, userOnly] = children(readDer(idp.value));
    expect(userOnly.tag).toBe(0x81);
    expect(content(userOnly)).toEqual(Buffer.from([0xff]));
    // What Go's and Mozilla's matching does: the CDP's DistributionPoint.distributionPoint equals the IDP's.
    const cdp = extensionIn(certificateExtensions(revoked.der), '2.5.29.31')!;
    const [[cdpName]] = [children(children(readDer(cdp.value))[0])];
    expect(Buffer.from(encoding(dpName)).equals(Buffer.from(encoding(cdpName)))).toBe(true);

    const text = openssl('crl', '-in', file('shard.crl', toPem('X509 CRL', crl.der)), '-noout', '-text', '-CAfile', chain, '-verify').out;
    expect(text).toMatch(/verify OK/);
    expect(text).toMatch(/X509v3 Issuing Distribution Point: critical\s+Full Name:\s+URI:http:\/\/pki\.example\.test\/pki\/cas\/[0-9a-f-]+\/crl\/3\s+Only User Certificates/);
    expect(text).toMatch(/X509v3 CRL Number:\s+7\n/);

    const args = ['-CAfile', file('root.pem', h.root.pem), '-untrusted', file('int.pem', h.intermediate.pem), '-CRLfile', file('shard.pem', toPem('X509 CRL', crl.der))];
    const bad = openssl('verify', '-crl_check', ...args, file('revoked.pem', revoked.pem));
    expect(bad.ok).toBe(false);
    expect(bad.out).toMatch(/certificate revoked/);
    expect(openssl('verify', '-crl_check', ...args, file('kept.pem', kept.pem)).out).toMatch(/kept\.pem: OK/);
  });

  it('a full CRL carries no IDP', async () => {
    const crl = await buildCrl({ issuer, crlNumber: 1, ...now, entries: [] });
    expect(extensionIn(crlExtensions(crl.der), '2.5.29.28')).toBeNull();
  });

  it('packed pages (one string per page, as a database aggregates them) encode exactly as entry objects do', async () => {
    const reasons = Object.entries(REVOCATION_REASONS) as [RevocationReason, number][];
    const objects: CrlEntry[] = [];
    const parts: string[] = [];
    // Times around the UTCTime/GeneralizedTime switch (2050) and a leap day, each in its own second.
    const seconds = [Date.UTC(2049, 11, 31, 23, 59, 59), Date.UTC(2050, 0, 1), Date.UTC(2028, 1, 29, 12, 0, 1), at.getTime(), Date.UTC(1999, 11, 31, 23, 59, 59)].map((ms) => ms / 1000);
    for (let i = 0; i < 40; i++) {
      const [reason, code] = reasons[i % reasons.length];
      const serialNumber = (BigInt(i + 1) * 0x9e3779b97f4a7c15n).toString(16).toUpperCase();
      const second = Math.floor(seconds[i % seconds.length]);
      objects.push({ serialNumber, revokedAt: new Date(second * 1000), reason });
      parts.push(`${serialNumber} ${second} ${code}`);
    }
    const packed: CrlEntryText[] = [{ packed: parts.slice(0, 25).join(','), count: 25 }, { packed: parts.slice(25).join(','), count: 15 }];
    const fromObjects = await buildCrl({ issuer, crlNumber: 5, ...window, entries: objects });
    const fromPacked = await buildCrl({ issuer, crlNumber: 5, ...window, entries: packed, expectedEntries: 1 });
    expect(fromPacked.revokedCount).toBe(40);
    expect(entriesOf(fromPacked.der)).toEqual(entriesOf(fromObjects.der));
    // The time bytes are der.ts's own encoding of each second.
    const [, secondEntry] = entriesOf(fromPacked.der);
    expect(encoding(children(readDer(secondEntry))[1])).toEqual(time(new Date(seconds[1] * 1000)));
    const out = openssl('crl', '-in', file('packed.crl', fromPacked.der), '-inform', 'DER', '-noout', '-CAfile', chain, '-verify').out;
    expect(out).toMatch(/verify OK/);
  });

  it('refuses malformed packed pages with invalid_request', async () => {
    for (const page of [
      { packed: '01 1700000000', count: 1 }, { packed: '01 17x 0', count: 1 }, { packed: '01 1700000000 7', count: 1 },
      { packed: '01 1700000000 0', count: 2 }, { packed: '00 1700000000 0', count: 1 }, { packed: '01  0', count: 1 },
    ]) {
      await expect(buildCrl({ issuer, crlNumber: 1, ...window, entries: [page] })).rejects.toMatchObject({ code: 'invalid_request' });
    }
  });

  it('assigns shards by the serial: stable, within the count, and even', () => {
    expect(crlShardOf('40000000000000000000000000000007', 4)).toBe(3);
    expect(crlShardOf('4000000000000000000000000000000a', 1)).toBe(0);
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[crlShardOf(randomBytes(16).toString('hex'), 16)]++;
    for (const n of counts) expect(n).toBeGreaterThan(800);
    expect(() => crlShardOf('zz', 4)).toThrow();
    expect(() => crlShardOf('01', 0)).toThrow();
  });
});
