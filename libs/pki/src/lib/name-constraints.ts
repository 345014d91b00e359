/**
 * DNS name constraints (RFC 5280 4.2.1.10), checked before signing so a leaf that relying parties would
 * reject is never issued.
 *
 *   NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees OPTIONAL,
 *                                  excludedSubtrees  [1] GeneralSubtrees OPTIONAL }
 *
 * RFC 5280: "Any DNS name that can be constructed by simply adding zero or more labels to the left-hand
 * side of the name satisfies the name constraint." So "example.com" permits example.com and every name
 * below it, and "*.x.example.com" is inside example.com (the wildcard only stands for more labels on the
 * left). Two spellings follow OpenSSL, the verifier our users run, rather than the letter of the RFC:
 * a constraint with a leading dot (".example.com") permits only names strictly below it, and an empty
 * constraint matches every name. Matching is label-aligned and case-insensitive: "badexample.com" is not
 * inside "example.com".
 */
import { PkiError } from './errors';

/** Whether `name` (a dNSName, possibly a wildcard) lies within the DNS subtree `domain`. */
export function dnsNameWithin(name: string, domain: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const d = domain.toLowerCase().replace(/\.$/, '');
  if (!d) return true;
  if (d.startsWith('.')) return n.length > d.length && n.endsWith(d);
  return n === d || n.endsWith(`.${d}`);
}

/**
 * Names of `dnsNames` that the constraints refuse: outside every permitted subtree (when any are
 * given; none means unconstrained), or inside an excluded one.
 */
export function namesOutside(dnsNames: string[], permittedDomains: string[], excludedDomains: string[] = []): string[] {
  return dnsNames.filter(
    (name) =>
      (permittedDomains.length > 0 && !permittedDomains.some((domain) => dnsNameWithin(name, domain))) ||
      excludedDomains.some((domain) => dnsNameWithin(name, domain)),
  );
}

/** Throws name_constraint_violation naming the first offending names. */
export function assertWithinNameConstraints(dnsNames: string[], permittedDomains: string[], excludedDomains: string[] = []): void {
  const outside = namesOutside(dnsNames, permittedDomains, excludedDomains);
  if (outside.length) {
    const constraints = [
      ...(permittedDomains.length ? [`permitted: ${permittedDomains.join(', ')}`] : []),
      ...(excludedDomains.length ? [`excluded: ${excludedDomains.join(', ')}`] : []),
    ].join('; ');
    throw new PkiError(
      'name_constraint_violation',
      `${outside.slice(0, 5).join(', ')}${outside.length > 5 ? ` and ${outside.length - 5} more` : ''} outside the CA's permitted domains (${constraints})`,
    );
  }
}
