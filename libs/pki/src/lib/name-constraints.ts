/**
 * Permitted DNS subtrees (RFC 5280 4.2.1.10): a constraint "example.com" permits example.com and every
 * name below it; "*.dev.example.com" is inside example.com (the wildcard stands for one more label).
 * Checked before signing, so a leaf that relying parties would reject is never issued.
 */
import { PkiError } from './errors';

export function dnsNameWithin(name: string, domain: string): boolean {
  const n = name.toLowerCase().replace(/^\*\./, '');
  const d = domain.toLowerCase().replace(/^\./, '');
  return n === d || n.endsWith(`.${d}`);
}

/** Names of `dnsNames` outside every permitted domain (none when nothing is constrained). */
export function namesOutside(dnsNames: string[], permittedDomains: string[]): string[] {
  if (!permittedDomains.length) return [];
  return dnsNames.filter((name) => !permittedDomains.some((domain) => dnsNameWithin(name, domain)));
}

/** Throws name_constraint_violation naming the first offending names. */
export function assertWithinNameConstraints(dnsNames: string[], permittedDomains: string[]): void {
  const outside = namesOutside(dnsNames, permittedDomains);
  if (outside.length) {
    throw new PkiError(
      'name_constraint_violation',
      `${outside.slice(0, 5).join(', ')}${outside.length > 5 ? ` and ${outside.length - 5} more` : ''} outside the CA's permitted domains (${permittedDomains.join(', ')})`,
    );
  }
}
