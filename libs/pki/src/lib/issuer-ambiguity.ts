/**
 * When two CA certificates look like the same issuer to a chain builder. OpenSSL (and most verifiers)
 * pick a child's issuer among the trusted certificates by subject name, then by key identifier
 * (child AKI = issuer SKI, RFC 5280 4.2.1.1) where both carry one; the signature is checked only after
 * the choice. Two CA certificates with the same subject and key identifier (or no identifier to tell
 * them apart) but different keys therefore shadow each other: whichever is picked, the children of the
 * other fail verification. Anyone can make such a certificate for a public CA certificate, so a trust
 * store shared by tenants must never hold both.
 */
import type { ParsedCertificate } from './certificate';

/** Could a verifier mistake one of these CA certificates for the other, though their keys differ? */
export function issuersAmbiguous(a: ParsedCertificate, b: ParsedCertificate): boolean {
  if (!a.subjectDer.equals(b.subjectDer) || a.spkiDer.equals(b.spkiDer)) return false;
  const aKid = a.subjectKeyIdentifier;
  const bKid = b.subjectKeyIdentifier;
  return !aKid || !bKid || aKid.equals(bKid);
}
