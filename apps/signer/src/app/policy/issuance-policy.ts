/**
 * Issuance policy: a profile (API.md section 5) resolved into what goes into a certificate. Producers
 * (REST issue, batch, renew, the renewal sweep, enrollment, approvals) send intent; this module decides
 * validity, usage and EKU, and refuses names and keys outside the profile, naming the rule
 * (`details.rule`). A request without a profile issues under its CA's built-in default profile, which
 * keeps section 1's behaviour: every name (within the CA's own name constraints), every key algorithm,
 * 90 days by default and at most 397, the usage the request asks for.
 */
import type { ProfileEntity } from '@signet/persistence';
import type { SubjectAltNames } from '@signet/pki';
import { ApiError, extendedKeyUsageFor } from '@signet/service';
import { refuse } from '../job-failure';

export interface IssuancePolicy {
  /** null: the CA's built-in default profile. */
  profileId: string | null;
  environment: string | null;
  allowedDomains: string[];
  allowWildcards: boolean;
  allowIpSans: boolean;
  /** Empty: any algorithm Signet issues for. */
  allowedKeyAlgorithms: string[];
  defaultValidityDays: number;
  maxValidityDays: number;
  /** null: the request's usage decides (built-in profile); else the profile's. */
  usage: string | null;
  extendedKeyUsage: string[] | null;
}

/** The limit API.md sets for every leaf, and the built-in profile's maximum. */
export const MAX_LEAF_VALIDITY_DAYS = 397;
export const DEFAULT_LEAF_VALIDITY_DAYS = 90;
export const DEFAULT_USAGE = 'server';
export const DEFAULT_KEY_ALGORITHM = 'ECDSA-P256';

export const BUILT_IN_POLICY: IssuancePolicy = Object.freeze({
  profileId: null,
  environment: null,
  allowedDomains: [],
  allowWildcards: true,
  allowIpSans: true,
  allowedKeyAlgorithms: [],
  defaultValidityDays: DEFAULT_LEAF_VALIDITY_DAYS,
  maxValidityDays: MAX_LEAF_VALIDITY_DAYS,
  usage: null,
  extendedKeyUsage: null,
});

export function policyOf(profile: ProfileEntity): IssuancePolicy {
  return {
    profileId: profile.id,
    environment: profile.environment,
    allowedDomains: profile.allowedDomains,
    allowWildcards: profile.allowWildcards,
    allowIpSans: profile.allowIpSans,
    allowedKeyAlgorithms: profile.allowedKeyAlgorithms,
    defaultValidityDays: profile.defaultValidityDays,
    maxValidityDays: Math.min(profile.maxValidityDays, MAX_LEAF_VALIDITY_DAYS),
    usage: profile.usage,
    extendedKeyUsage: profile.extendedKeyUsage,
  };
}

/** What the request asks for, as far as policy is concerned. */
export interface IssuanceIntent {
  keyAlgorithm: string;
  validityDays?: number;
  usage?: string;
  extendedKeyUsage?: string[];
  sans: SubjectAltNames;
}

/** What the policy decided. */
export interface IssuanceTemplate {
  validityDays: number;
  usage: string;
  extendedKeyUsage: string[];
}

const violation = (rule: string, field: string, message: string) => refuse('policy_violation', message, { rule, field });

/** The key algorithm a managed request gets when it names none: the profile's first, or P-256. */
export function defaultKeyAlgorithm(policy: IssuancePolicy): string {
  return policy.allowedKeyAlgorithms.includes(DEFAULT_KEY_ALGORITHM) || !policy.allowedKeyAlgorithms.length ? DEFAULT_KEY_ALGORITHM : policy.allowedKeyAlgorithms[0];
}

/** Check the intent against the policy and decide the template; a refusal names its rule. */
export function applyPolicy(policy: IssuancePolicy, intent: IssuanceIntent): IssuanceTemplate {
  if (policy.allowedKeyAlgorithms.length && !policy.allowedKeyAlgorithms.includes(intent.keyAlgorithm)) {
    throw violation('allowedKeyAlgorithms', 'keyAlgorithm', `key algorithm ${intent.keyAlgorithm} is not allowed by this profile (${policy.allowedKeyAlgorithms.join(', ')})`);
  }
  const validityDays = intent.validityDays ?? policy.defaultValidityDays;
  if (validityDays > policy.maxValidityDays) {
    throw violation('maxValidityDays', 'validityDays', `validityDays ${validityDays} is more than this profile's maximum of ${policy.maxValidityDays}`);
  }
  if (!policy.allowIpSans && intent.sans.ip.length) {
    throw violation('allowIpSans', 'sanIp', `this profile issues no IP addresses (${intent.sans.ip.slice(0, 5).join(', ')})`);
  }
  const wildcards = intent.sans.dns.filter((name) => name.startsWith('*.'));
  if (!policy.allowWildcards && wildcards.length) {
    throw violation('allowWildcards', 'sanDns', `this profile issues no wildcard names (${wildcards.slice(0, 5).join(', ')})`);
  }
  if (policy.allowedDomains.length) {
    const outside = intent.sans.dns.filter((name) => !policy.allowedDomains.some((pattern) => domainAllows(pattern, name)));
    if (outside.length) {
      throw violation('allowedDomains', 'sanDns', `${outside.slice(0, 5).join(', ')} outside this profile's allowed domains (${policy.allowedDomains.join(', ')})`);
    }
  }
  return { validityDays, ...usageOf(policy, intent) };
}

/** The profile's usage and EKU; a request asking for another usage is refused. Built-in: the request's. */
function usageOf(policy: IssuancePolicy, intent: IssuanceIntent): { usage: string; extendedKeyUsage: string[] } {
  if (policy.usage === null) {
    const usage = intent.usage ?? DEFAULT_USAGE;
    return { usage, extendedKeyUsage: ekuFor(usage, intent.extendedKeyUsage) };
  }
  if (intent.usage !== undefined && intent.usage !== policy.usage) {
    throw violation('usage', 'usage', `this profile issues usage "${policy.usage}", not "${intent.usage}"`);
  }
  const extendedKeyUsage = ekuFor(policy.usage, policy.extendedKeyUsage ?? undefined);
  if (intent.extendedKeyUsage?.length && !sameSet(intent.extendedKeyUsage, extendedKeyUsage)) {
    throw violation('usage', 'extendedKeyUsage', `this profile issues extendedKeyUsage ${extendedKeyUsage.join(', ')}`);
  }
  return { usage: policy.usage, extendedKeyUsage };
}

function ekuFor(usage: string, explicit: string[] | undefined): string[] {
  try {
    return extendedKeyUsageFor(usage, explicit);
  } catch (error) {
    if (error instanceof ApiError) throw refuse(error.code, error.message, error.details);
    throw error;
  }
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));

/**
 * API.md section 5: `example.com` allows that name and every name under it (a wildcard under it too);
 * `*.svc.example.com` allows the names directly under svc.example.com (one label, or that wildcard).
 */
export function domainAllows(pattern: string, name: string): boolean {
  if (pattern.startsWith('*.')) {
    const parent = pattern.slice(2);
    if (!name.endsWith(`.${parent}`)) return false;
    const label = name.slice(0, -parent.length - 1);
    return !label.includes('.');
  }
  return name === pattern || name.endsWith(`.${pattern}`);
}
