import { PkiError } from './errors';
import { decodeGeneralNames, encodeGeneralNames, normalizeDnsName, normalizeIp, normalizeSubjectAltNames } from './general-names';
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
