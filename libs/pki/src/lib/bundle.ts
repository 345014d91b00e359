/**
 * A certificate bundle from elsewhere (API.md section 8): a leaf, its chain and maybe its key, as PEM or
 * as a PKCS#12 file, read and judged without storing anything. Certificates from other issuers may use
 * keys and curves Signet does not issue with, so reading here is lenient (node:crypto's X509Certificate)
 * and what is unusual becomes a warning, not a refusal.
 *
 * Judged: the key matches the leaf; the chain is in order (each certificate signed by the next, as a TLS
 * server sends it) and complete (it ends at a self-signed root); the leaf is valid now and covers the
 * domain asked about (RFC 6125: a wildcard stands for exactly one leftmost label; the common name only
 * when there are no DNS or IP names); weak keys and SHA-1 signatures. Errors make the bundle invalid;
 * warnings do not.
 */
import { KeyObject, X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { ParsedCertificate, parseCertificate } from './certificate';
import { formatName } from './distinguished-name';
import { BundleInputError } from './errors';
import { normalizeIp } from './general-names';
import { importPrivateKey } from './keys';
import { pemBlocks } from './pem';
import { readPkcs12 } from './pkcs12-read';

const DAY_MS = 86_400_000;
const EXPIRING_DAYS = 30;
const MAX_CHAIN = 10;

export interface BundleInput {
  certificatePem?: string;
  chainPem?: string;
  privateKeyPem?: string;
  pfx?: Buffer;
  pfxPassword?: string;
}

export interface Bundle {
  leaf: X509Certificate;
  /** As given, after the leaf (a PEM's extra certificates first, then chainPem; or a PKCS#12's). */
  chain: X509Certificate[];
  privateKey: KeyObject | null;
}

export interface BundleFinding {
  code: string;
  message: string;
}

export interface BundleReport {
  valid: boolean;
  commonName: string | null;
  sanDns: string[];
  sanIp: string[];
  issuer: string;
  serialNumber: string;
  fingerprintSha256: string;
  keyAlgorithm: string;
  validFrom: string;
  validTo: string;
  daysRemaining: number;
  /** Null when no key was given. */
  keyMatches: boolean | null;
  chainComplete: boolean;
  /** Null when no domain was asked about. */
  coversDomain: boolean | null;
  errors: BundleFinding[];
  warnings: BundleFinding[];
}


function certificatesOf(text: string, field: keyof BundleInput): X509Certificate[] {
  const blocks = pemBlocks(text).filter((b) => b.label === 'CERTIFICATE');
  if (!blocks.length) throw new BundleInputError(field, `${field} holds no PEM CERTIFICATE block`);
  if (blocks.length > MAX_CHAIN) throw new BundleInputError(field, `${field} holds more than ${MAX_CHAIN} certificates`);
  return blocks.map((b) => {
    try {
      return new X509Certificate(b.der);
    } catch {
      throw new BundleInputError(field, `${field} holds a CERTIFICATE block that is not an X.509 certificate`);
    }
  });
}

/** Read the inputs; a field that cannot be read is a BundleInputError naming it. */
export function readBundle(input: BundleInput): Bundle {
  let certificates: X509Certificate[] = [];
  let privateKey: KeyObject | null = null;
  if (input.pfx) {
    const pfx = readPkcs12(input.pfx, input.pfxPassword ?? '');
    certificates = pfx.certificates.map((der) => new X509Certificate(der));
    privateKey = pfx.privateKey;
    if (!certificates.length) throw new BundleInputError('pfx', 'the PKCS#12 file holds no certificate');
  }
  if (input.certificatePem) certificates = [...certificatesOf(input.certificatePem, 'certificatePem'), ...certificates];
  if (input.chainPem) certificates.push(...certificatesOf(input.chainPem, 'chainPem'));
  if (!certificates.length) throw new BundleInputError('certificatePem', 'give certificatePem or a PKCS#12 file');
  if (input.privateKeyPem) {
    try {
      privateKey = createPrivateKey(input.privateKeyPem.includes('-----BEGIN') ? input.privateKeyPem : { key: Buffer.from(input.privateKeyPem, 'base64'), format: 'der', type: 'pkcs8' });
    } catch {
      try {
        privateKey = importPrivateKey(input.privateKeyPem);
      } catch (error) {
        throw new BundleInputError('privateKeyPem', `privateKeyPem: ${(error as Error).message}`);
      }
    }
  }
  // The leaf: the certificate of the key when there is one (a PKCS#12 lists them in any order), else the first.
  let leafAt = 0;
  if (privateKey) {
    const publicKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    const matching = certificates.findIndex((c) => (c.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).equals(publicKey as Buffer));
    if (matching >= 0 && input.pfx && !input.certificatePem) leafAt = matching;
  } else if (input.pfx && !input.certificatePem) {
    const nonCa = certificates.findIndex((c) => !c.ca);
    if (nonCa >= 0) leafAt = nonCa;
  }
  const [leaf] = certificates.splice(leafAt, 1);
  return { leaf, chain: certificates, privateKey };
}

/** The key's algorithm as people name it (any size or curve, not only those Signet issues with). */
export function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return `RSA-${details.modulusLength ?? 0}`;
    case 'ec':
      return `ECDSA-${{ prime256v1: 'P256', secp384r1: 'P384', secp521r1: 'P521' }[details.namedCurve ?? ''] ?? details.namedCurve ?? 'unknown'}`;
    case 'ed25519':
      return 'Ed25519';
    case 'ed448':
      return 'Ed448';
    default:
      return key.asymmetricKeyType ?? 'unknown';
  }
}

/** The names of a certificate's subjectAltName, as node prints them. */
export function namesOf(certificate: X509Certificate): { dns: string[]; ip: string[]; commonName: string | null } {
  const dns: string[] = [];
  const ip: string[] = [];
  for (const entry of (certificate.subjectAltName ?? '').split(/,\s*/)) {
    if (entry.startsWith('DNS:')) dns.push(entry.slice(4).toLowerCase());
    else if (entry.startsWith('IP Address:')) ip.push(normalizeIp(entry.slice(11)));
  }
  const commonName = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1] ?? null;
  return { dns, ip, commonName };
}

/** RFC 6125 6.4: `*` is exactly the whole leftmost label; names compare case-insensitively. */
export function certificateCovers(certificate: X509Certificate, domain: string): boolean {
  const wanted = domain.trim().toLowerCase().replace(/\.$/, '');
  const names = namesOf(certificate);
  if (isIP(wanted)) return names.ip.includes(normalizeIp(wanted));
  const candidates = names.dns.length || names.ip.length ? names.dns : names.commonName ? [names.commonName.toLowerCase()] : [];
  return candidates.some((name) => {
    if (name === wanted) return true;
    if (!name.startsWith('*.')) return false;
    const dot = wanted.indexOf('.');
    return dot > 0 && wanted.slice(dot + 1) === name.slice(2);
  });
}

/** md5WithRSA, sha1WithRSA, ecdsa-with-SHA1, dsa-with-sha1. */
const WEAK_SIGNATURES = new Set(['1.2.840.113549.1.1.4', '1.2.840.113549.1.1.5', '1.2.840.10045.4.1', '1.2.840.10040.4.3']);

function parsedOrNull(certificate: X509Certificate): ParsedCertificate | null {
  try {
    return parseCertificate(certificate.raw);
  } catch {
    return null;
  }
}

const signs = (issuer: X509Certificate, subject: X509Certificate): boolean => {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
};

const isSelfSigned = (certificate: X509Certificate) => signs(certificate, certificate);

export function checkBundle(bundle: Bundle, options: { now: Date; domain?: string }): BundleReport {
  const { leaf, chain, privateKey } = bundle;
  const errors: BundleFinding[] = [];
  const warnings: BundleFinding[] = [];
  const now = options.now.getTime();
  const validFrom = new Date(leaf.validFrom);
  const validTo = new Date(leaf.validTo);
  const daysRemaining = Math.max(0, Math.floor((validTo.getTime() - now) / DAY_MS));

  if (validTo.getTime() <= now) errors.push({ code: 'expired', message: `the certificate expired on ${validTo.toISOString()}` });
  else if (validFrom.getTime() > now) errors.push({ code: 'not_yet_valid', message: `the certificate is valid only from ${validFrom.toISOString()}` });
  else if (daysRemaining <= EXPIRING_DAYS) warnings.push({ code: 'expiring', message: `the certificate expires in ${daysRemaining} days` });

  let keyMatches: boolean | null = null;
  if (privateKey) {
    keyMatches = leaf.checkPrivateKey(privateKey);
    if (!keyMatches) errors.push({ code: 'key_mismatch', message: 'the private key is not the key of the certificate' });
  }

  const keyAlgorithm = describeKey(leaf.publicKey);
  const details = leaf.publicKey.asymmetricKeyDetails ?? {};
  if (leaf.publicKey.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) < 2048) {
    warnings.push({ code: 'weak_key', message: `${keyAlgorithm} is too weak: use RSA of 2048 bits or more, or ECDSA` });
  }
  const parsed = parsedOrNull(leaf);
  if (parsed && WEAK_SIGNATURES.has(parsed.signatureAlgorithm)) {
    warnings.push({ code: 'weak_signature', message: 'the certificate is signed with SHA-1 or MD5' });
  }

  // The chain, as a server sends it: each certificate signed by the next.
  let chainComplete = isSelfSigned(leaf);
  if (!chain.length && !chainComplete) {
    warnings.push({ code: 'chain_missing', message: 'no chain was given: clients that lack the intermediate certificates will not trust the server' });
  }
  let current = leaf;
  for (const [i, next] of chain.entries()) {
    if (signs(next, current)) {
      current = next;
      if (isSelfSigned(current)) chainComplete = true;
      continue;
    }
    const elsewhere = chain.findIndex((other) => signs(other, current));
    errors.push(elsewhere >= 0
      ? { code: 'chain_order', message: `chain certificate ${i + 1} (${next.subject.replace(/\n/g, ', ')}) is out of order: ${current.subject.replace(/\n/g, ', ')} is signed by certificate ${elsewhere + 1}; list the leaf, then each issuer after what it signs` }
      : { code: 'chain_broken', message: `chain certificate ${i + 1} (${next.subject.replace(/\n/g, ', ')}) did not sign ${current.subject.replace(/\n/g, ', ')}` });
    break;
  }
  if (chain.length && !errors.some((e) => e.code.startsWith('chain')) && !chainComplete) {
    warnings.push({ code: 'chain_incomplete', message: `the chain ends at ${current.issuer.replace(/\n/g, ', ')}'s subordinate: relying parties need that root in their trust store` });
  }

  let coversDomain: boolean | null = null;
  if (options.domain) {
    coversDomain = certificateCovers(leaf, options.domain);
    if (!coversDomain) errors.push({ code: 'domain_not_covered', message: `the certificate does not cover ${options.domain}` });
  }

  const names = namesOf(leaf);
  return {
    valid: errors.length === 0,
    commonName: names.commonName,
    sanDns: names.dns,
    sanIp: names.ip,
    issuer: parsed ? formatName(parsed.issuerDer) : leaf.issuer.split('\n').join(', '),
    serialNumber: leaf.serialNumber.toUpperCase(),
    fingerprintSha256: leaf.fingerprint256.replace(/:/g, '').toLowerCase(),
    keyAlgorithm,
    validFrom: validFrom.toISOString(),
    validTo: validTo.toISOString(),
    daysRemaining,
    keyMatches,
    chainComplete,
    coversDomain,
    errors,
    warnings,
  };
}
