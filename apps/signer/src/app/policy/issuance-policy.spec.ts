import { decodeJobFailure } from '@signet/queue';
import { UnrecoverableError } from 'bullmq';
import { BUILT_IN_POLICY, IssuancePolicy, applyPolicy, defaultKeyAlgorithm, domainAllows } from './issuance-policy';

const sans = (dns: string[] = [], ip: string[] = []) => ({ dns, ip, email: [], uri: [] });
const profile = (over: Partial<IssuancePolicy> = {}): IssuancePolicy => ({
  ...BUILT_IN_POLICY, profileId: 'p', allowedDomains: ['example.com', '*.svc.example.net'], allowWildcards: false, allowIpSans: false,
  allowedKeyAlgorithms: ['ECDSA-P384', 'RSA-3072'], defaultValidityDays: 30, maxValidityDays: 60, usage: 'server-client', extendedKeyUsage: null, ...over,
});
const ruleOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error instanceof UnrecoverableError ? decodeJobFailure(error.message)?.details?.['rule'] : `other: ${error}`;
  }
  return 'admitted';
};

describe('issuance policy', () => {
  it('matches allowed domains as API.md says: a domain and everything under it; *.parent one label under it', () => {
    expect(domainAllows('example.com', 'example.com')).toBe(true);
    expect(domainAllows('example.com', 'a.b.example.com')).toBe(true);
    expect(domainAllows('example.com', 'badexample.com')).toBe(false);
    expect(domainAllows('*.svc.example.net', 'api.svc.example.net')).toBe(true);
    expect(domainAllows('*.svc.example.net', '*.svc.example.net')).toBe(true);
    expect(domainAllows('*.svc.example.net', 'svc.example.net')).toBe(false);
    expect(domainAllows('*.svc.example.net', 'a.b.svc.example.net')).toBe(false);
  });

  it('refuses at each edge with the rule named, and admits just inside it', () => {
    const p = profile();
    const ok = { keyAlgorithm: 'ECDSA-P384', sans: sans(['www.example.com']) };
    expect(applyPolicy(p, ok)).toEqual({ validityDays: 30, usage: 'server-client', extendedKeyUsage: ['serverAuth', 'clientAuth'] });
    expect(applyPolicy(p, { ...ok, validityDays: 60 }).validityDays).toBe(60);
    expect(ruleOf(() => applyPolicy(p, { ...ok, validityDays: 61 }))).toBe('maxValidityDays');
    expect(ruleOf(() => applyPolicy(p, { ...ok, keyAlgorithm: 'ECDSA-P256' }))).toBe('allowedKeyAlgorithms');
    expect(ruleOf(() => applyPolicy(p, { ...ok, sans: sans(['www.example.org']) }))).toBe('allowedDomains');
    expect(ruleOf(() => applyPolicy(p, { ...ok, sans: sans(['*.example.com']) }))).toBe('allowWildcards');
    expect(ruleOf(() => applyPolicy(p, { ...ok, sans: sans(['www.example.com'], ['10.0.0.1']) }))).toBe('allowIpSans');
    expect(ruleOf(() => applyPolicy(p, { ...ok, usage: 'client' }))).toBe('usage');
    expect(ruleOf(() => applyPolicy(p, { ...ok, usage: 'server-client' }))).toBe('admitted');
    expect(ruleOf(() => applyPolicy({ ...p, allowWildcards: true }, { ...ok, sans: sans(['*.example.com']) }))).toBe('admitted');
  });

  it('keeps section 1 behaviour without a profile: the request decides usage, 90 days default, 397 at most', () => {
    expect(applyPolicy(BUILT_IN_POLICY, { keyAlgorithm: 'Ed25519', sans: sans(['*.anything.test'], ['::1']) })).toEqual({ validityDays: 90, usage: 'server', extendedKeyUsage: ['serverAuth'] });
    expect(applyPolicy(BUILT_IN_POLICY, { keyAlgorithm: 'RSA-2048', usage: 'client', validityDays: 397, sans: sans() })).toEqual({ validityDays: 397, usage: 'client', extendedKeyUsage: ['clientAuth'] });
    expect(ruleOf(() => applyPolicy(BUILT_IN_POLICY, { keyAlgorithm: 'RSA-2048', validityDays: 398, sans: sans() }))).toBe('maxValidityDays');
  });

  it('issues a custom usage label (CertMate) as given, with serverAuth unless it brings its extendedKeyUsage', () => {
    const any = { keyAlgorithm: 'ECDSA-P384', sans: sans(['www.example.com']) };
    expect(applyPolicy(BUILT_IN_POLICY, { ...any, usage: 'teapot' })).toEqual({ validityDays: 90, usage: 'teapot', extendedKeyUsage: ['serverAuth'] });
    expect(applyPolicy(BUILT_IN_POLICY, { ...any, usage: 'teapot', extendedKeyUsage: ['clientAuth', '1.3.6.1.4.1.99999.1'] })).toEqual({
      validityDays: 90, usage: 'teapot', extendedKeyUsage: ['clientAuth', '1.3.6.1.4.1.99999.1'],
    });
    // A profile's custom label without an EKU of its own follows the same rule.
    expect(applyPolicy(profile({ usage: 'sidecar' }), any)).toEqual({ validityDays: 30, usage: 'sidecar', extendedKeyUsage: ['serverAuth'] });
    expect(applyPolicy(profile({ usage: 'sidecar', extendedKeyUsage: ['clientAuth'] }), any).extendedKeyUsage).toEqual(['clientAuth']);
    // What stays refused: an unknown EKU name, and anyExtendedKeyUsage.
    expect(ruleOf(() => applyPolicy(BUILT_IN_POLICY, { ...any, usage: 'teapot', extendedKeyUsage: ['brewing'] }))).not.toBe('admitted');
    expect(ruleOf(() => applyPolicy(BUILT_IN_POLICY, { ...any, usage: 'teapot', extendedKeyUsage: ['anyExtendedKeyUsage'] }))).not.toBe('admitted');
  });

  it('gives managed requests without an algorithm one the profile allows', () => {
    expect(defaultKeyAlgorithm(BUILT_IN_POLICY)).toBe('ECDSA-P256');
    expect(defaultKeyAlgorithm(profile())).toBe('ECDSA-P384');
  });
});
