/**
 * The identity an enrollment may obtain. A device proves who it is with its client certificate; what
 * it gets must not say more than that. Under `match-client-cn` (and for every re-enrollment) the CSR may
 * ask for a subset of the client certificate's identity and nothing else:
 *   - each subject attribute in the CSR must carry the client certificate's value for that attribute;
 *   - each subject alternative name must be one of the client certificate's (a DNS name or IP address
 *     equal to its common name counts, since issuance places such a CN in the SANs anyway).
 * A re-enrollment (RFC 7030 4.2.2) keeps the certificate's subject and SANs as they are, whatever subset
 * the CSR names. `subjectRule: any` is the policy's explicit widening: the CSR's subject and SANs are
 * taken (bounded by the CA's name constraints, as for any issuance).
 *
 * The issued subject is re-encoded from the checked attributes (never the CSR's bytes), so a repeated or
 * unknown attribute in the request cannot ride along.
 */
import { CsrSubject, DistinguishedName, ParsedCertificate, ParsedCsr, SubjectAltNames, isPkiError, nameAttributes, normalizeSubjectAltNames } from '@signet/pki';
import type { FieldError } from '@signet/service';

/** What the issuing job is told to put in the certificate. */
export interface EnrollmentIdentity {
  commonName?: string;
  subject: Omit<DistinguishedName, 'commonName'>;
  sans: SubjectAltNames;
}

/** The CSR asked for more than the client certificate proves: each field named. */
export class IdentityRefusal extends Error {
  constructor(readonly fields: FieldError[]) {
    super(`the CSR asks for an identity the client certificate does not hold: ${fields.map((f) => `${f.field} (${f.messages.join('; ')})`).join(', ')}`);
  }
}

/** Subject attributes a certificate Signet issues can carry (libs/pki encodes these). */
const ENCODABLE: (keyof DistinguishedName)[] = ['commonName', 'organization', 'organizationalUnit', 'country', 'state', 'locality', 'serialNumber', 'emailAddress'];

const SAN_FIELDS: { key: keyof SubjectAltNames; field: string }[] = [
  { key: 'dns', field: 'sanDns' },
  { key: 'ip', field: 'sanIp' },
  { key: 'email', field: 'sanEmail' },
  { key: 'uri', field: 'sanUri' },
];

/**
 * The identity to issue for `csr`, presented with `client`. `bounded`: the CSR may only repeat what
 * the client certificate holds; `reenroll`: the client certificate's subject and SANs are issued as they
 * are. Unbounded and not re-enrolling: undefined (the CSR decides, as `subjectRule: any` says).
 */
export function enrollmentIdentity(client: ParsedCertificate, csr: ParsedCsr, mode: { bounded: boolean; reenroll: boolean }): EnrollmentIdentity | undefined {
  if (!mode.bounded && !mode.reenroll) return undefined;
  const held = nameAttributes(client.subjectDer);
  const clientSans = client.sans;
  const refused: FieldError[] = [];

  const subject: CsrSubject = {};
  for (const [attribute, value] of Object.entries(csr.subject)) {
    if (held[attribute] === undefined) refused.push({ field: `subject.${attribute}`, messages: ['the client certificate has no such attribute'] });
    else if (held[attribute] !== value) refused.push({ field: `subject.${attribute}`, messages: [`must be ${JSON.stringify(held[attribute])}, as in the client certificate`] });
    else subject[attribute] = value;
  }

  let requested: SubjectAltNames;
  try {
    requested = normalizeSubjectAltNames({ dns: csr.sanDns, ip: csr.sanIp, email: csr.sanEmail, uri: csr.sanUri });
  } catch (error) {
    if (!isPkiError(error)) throw error;
    throw new IdentityRefusal([{ field: 'csrPem', messages: [error.message] }]);
  }
  const cn = held['commonName'];
  for (const { key, field } of SAN_FIELDS) {
    const allowed = new Set(clientSans[key].map((name) => name.toLowerCase()));
    if (cn && (key === 'dns' || key === 'ip')) allowed.add(cn.toLowerCase());
    const outside = requested[key].filter((name) => !allowed.has(name.toLowerCase()));
    if (outside.length) refused.push({ field, messages: [`not in the client certificate: ${outside.slice(0, 10).join(', ')}`] });
  }
  if (refused.length) throw new IdentityRefusal(refused);

  // Re-enrollment: the same subject and SANs as the certificate being renewed.
  const source = mode.reenroll ? held : subject;
  const issued: DistinguishedName = {};
  for (const key of ENCODABLE) if (source[key] !== undefined) issued[key] = source[key];
  const { commonName, ...rest } = issued;
  return {
    commonName,
    // Always given (even empty), so the signer encodes this subject rather than keep the CSR's bytes.
    subject: rest,
    sans: mode.reenroll ? { dns: [...clientSans.dns], ip: [...clientSans.ip], email: [...clientSans.email], uri: [...clientSans.uri] } : requested,
  };
}
