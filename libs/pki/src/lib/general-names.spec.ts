import { PkiError } from './errors';
import { explicit, implicitPrimitive, oid, sequence, utf8String } from './der';
import { decodeGeneralNames, encodeGeneralNames, ipToBytes, normalizeDnsName, normalizeIp, normalizeSubjectAltNames } from './general-names';
import { dnsNameWithin, namesOutside } from './name-constraints';

describe('DNS names', () => {
  it.each([
    ['WWW.Example.Test.', 'www.example.test'],
    ['*.example.test', '*.example.test'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['a-b.c1.example', 'a-b.c1.example'],
  ])('normalizes %s', (input, expected) => expect(normalizeDnsName(input)).toBe(expected));

  it.each([
    ['www.*.example.test', /wildcard/],
    ['w*.example.test', /wildcard/],
    ['*.test', /wildcard/],
    ['bücher.example', /punycode/],
    ['-bad.example', /LDH|letters/],
    ['under_score.example', /letters/],
    ['a'.repeat(64) + '.example', /63/],
    [('a'.repeat(60) + '.').repeat(5) + 'example', /253/],
    ['', /empty/],
    ['1.2.3.4', /numeric/],
  ])('refuses %s', (input, why) => {
    expect(() => normalizeDnsName(input)).toThrow(PkiError);
    expect(() => normalizeDnsName(input)).toThrow(why);
  });
});

describe('IP addresses and other SANs', () => {
  it('normalizes IPv4 and IPv6 to canonical text', () => {
    expect(normalizeIp('192.0.2.1')).toBe('192.0.2.1');
    expect(normalizeIp('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(normalizeIp('::ffff:192.0.2.1')).toBe('::ffff:c000:201');
    expect(() => normalizeIp('300.1.1.1')).toThrow(PkiError);
    expect(() => normalizeIp('example.test')).toThrow(PkiError);
  });

  it('round-trips all four name forms through DER, deduplicated', () => {
    const sans = normalizeSubjectAltNames({ dns: ['A.example.test', 'a.example.test'], ip: ['10.0.0.1', 'fe80::1'], email: ['x@Example.test'], uri: ['urn:x:y'] });
    expect(sans).toEqual({ dns: ['a.example.test'], ip: ['10.0.0.1', 'fe80::1'], email: ['x@example.test'], uri: ['urn:x:y'] });
    expect(decodeGeneralNames(encodeGeneralNames(sans))).toEqual(sans);
    expect(() => normalizeSubjectAltNames({ email: ['no-at-sign'] })).toThrow(PkiError);
    expect(() => normalizeSubjectAltNames({ uri: ['not a uri'] })).toThrow(PkiError);
  });
});

describe('more SAN edge cases', () => {
  it.each([
    ['::', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    [' 10.1.2.3 ', '10.1.2.3'],
  ])('writes %s canonically as %s', (input, expected) => expect(normalizeIp(input)).toBe(expected));

  it.each(['fe80::1%eth0', '010.0.0.1', '1.2.3', '::g', ''])('refuses the IP %s', (input) => {
    expect(() => normalizeIp(input)).toThrow(expect.objectContaining({ code: 'invalid_name' }));
  });

  it('gives 4 or 16 network-order bytes', () => {
    expect(ipToBytes('192.0.2.1')).toEqual(Buffer.from([192, 0, 2, 1]));
    expect(ipToBytes('::ffff:192.0.2.1').toString('hex')).toBe('00000000000000000000ffffc0000201');
    expect(ipToBytes('2001:db8::1').length).toBe(16);
  });

  it.each([
    ['e-mail with a wildcard domain', { email: ['a@*.example.test'] }],
    ['e-mail with a unicode domain', { email: ['a@bücher.example'] }],
    ['e-mail with a space', { email: ['a b@example.test'] }],
    ['URI without a scheme', { uri: ['//example.test/x'] }],
    ['URI with a space', { uri: ['https://example.test/a b'] }],
    ['DNS names that are not a list', { dns: 'example.test' as unknown as string[] }],
  ])('refuses %s', (_, input) => {
    expect(() => normalizeSubjectAltNames(input)).toThrow(expect.objectContaining({ code: 'invalid_name' }));
  });

  it('keeps the order given and the DER order dNSName, iPAddress, rfc822Name, URI', () => {
    const sans = normalizeSubjectAltNames({ uri: ['urn:b', 'urn:a'], dns: ['b.example.test', 'a.example.test', 'B.example.test'], ip: ['::1', '0:0::1'] });
    expect(sans).toEqual({ dns: ['b.example.test', 'a.example.test'], ip: ['::1'], email: [], uri: ['urn:b', 'urn:a'] });
    const der = encodeGeneralNames(sans);
    expect(der.toString('hex')).toBe(
      '30' + '40' +
        '820e' + Buffer.from('b.example.test').toString('hex') +
        '820e' + Buffer.from('a.example.test').toString('hex') +
        '8710' + '00000000000000000000000000000001' +
        '8605' + Buffer.from('urn:b').toString('hex') +
        '8605' + Buffer.from('urn:a').toString('hex'),
    );
  });

  it('skips the GeneralName forms Signet does not issue when decoding', () => {
    const otherName = explicit(0, Buffer.concat([oid('1.3.6.1.4.1.311.20.2.3'), explicit(0, utf8String('upn@example.test'))]));
    const directoryName = explicit(4, sequence());
    const der = sequence(otherName, implicitPrimitive(2, Buffer.from('x.example.test')), directoryName, implicitPrimitive(7, Buffer.from([10, 0, 0, 1])));
    expect(decodeGeneralNames(der)).toEqual({ dns: ['x.example.test'], ip: ['10.0.0.1'], email: [], uri: [] });
    expect(() => decodeGeneralNames(sequence(implicitPrimitive(7, Buffer.from([1, 2, 3]))))).toThrow(PkiError);
  });
});

describe('name constraints', () => {
  it('permits the domain, its subdomains and wildcards inside it, nothing else', () => {
    expect(dnsNameWithin('example.test', 'example.test')).toBe(true);
    expect(dnsNameWithin('a.b.example.test', 'example.test')).toBe(true);
    expect(dnsNameWithin('*.dev.example.test', 'example.test')).toBe(true);
    expect(dnsNameWithin('badexample.test', 'example.test')).toBe(false);
    expect(namesOutside(['ok.example.test', 'evil.test'], ['example.test'])).toEqual(['evil.test']);
    expect(namesOutside(['anything.test'], [])).toEqual([]);
  });
});
