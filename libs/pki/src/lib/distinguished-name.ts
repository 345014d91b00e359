/**
 * X.501 distinguished names as Signet uses them.
 *
 *   Name ::= SEQUENCE OF RelativeDistinguishedName
 *   RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
 *   AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }   -- RFC 5280 4.1.2.4
 *
 * One attribute per RDN, ordered C, ST, L, O, OU, CN (most significant first); UTF8String except
 * countryName, serialNumber and emailAddress, which X.520 / PKCS#9 fix to PrintableString / IA5String.
 */
import { Tag, children, encoding, expectTag, ia5String, oid, printableString, readDer, readOid, readString, sequence, setOf, utf8String } from './der';
import { PkiError } from './errors';

export interface DistinguishedName {
  commonName?: string;
  organization?: string;
  organizationalUnit?: string;
  country?: string;
  state?: string;
  locality?: string;
  serialNumber?: string;
  emailAddress?: string;
}

interface Attribute {
  key: keyof DistinguishedName;
  oid: string;
  /** RFC 5280 Appendix A upper bound */
  max: number;
  encode: (s: string) => Buffer;
}

const ATTRIBUTES: Attribute[] = [
  { key: 'country', oid: '2.5.4.6', max: 2, encode: printableString },
  { key: 'state', oid: '2.5.4.8', max: 128, encode: utf8String },
  { key: 'locality', oid: '2.5.4.7', max: 128, encode: utf8String },
  { key: 'organization', oid: '2.5.4.10', max: 64, encode: utf8String },
  { key: 'organizationalUnit', oid: '2.5.4.11', max: 64, encode: utf8String },
  { key: 'commonName', oid: '2.5.4.3', max: 64, encode: utf8String },
  { key: 'serialNumber', oid: '2.5.4.5', max: 64, encode: printableString },
  { key: 'emailAddress', oid: '1.2.840.113549.1.9.1', max: 255, encode: ia5String },
];
const BY_OID = new Map(ATTRIBUTES.map((a) => [a.oid, a]));

/** X.680 41.4: the whole PrintableString alphabet (no `@`, `&`, `*`, `_`, ...). */
export const PRINTABLE_STRING_ALPHABET = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** RFC 5280 Appendix A upper bounds, in characters, by the attribute names the API (and parsed CSRs) use. */
export const NAME_UPPER_BOUNDS: Readonly<Record<string, number>> = Object.fromEntries(ATTRIBUTES.map((a) => [a.key, a.max]));

function checkValue(attribute: Attribute, value: string): void {
  if (typeof value !== 'string' || !value.trim()) throw new PkiError('invalid_name', `${attribute.key} must be a non-empty string`);
  if ([...value].length > attribute.max) throw new PkiError('invalid_name', `${attribute.key} is longer than ${attribute.max} characters`);
  if (/[\x00-\x1f\x7f]/.test(value)) throw new PkiError('invalid_name', `${attribute.key} contains control characters`);
  if (attribute.key === 'country' && !/^[A-Z]{2}$/.test(value)) throw new PkiError('invalid_name', 'country must be a two-letter ISO 3166 code (e.g. DE)');
  if (attribute.encode === printableString && !PRINTABLE_STRING_ALPHABET.test(value)) throw new PkiError('invalid_name', `${attribute.key} has characters a PrintableString cannot carry`);
  if (attribute.encode === ia5String && /[^\x20-\x7e]/.test(value)) throw new PkiError('invalid_name', `${attribute.key} must be ASCII`);
}

/** Check every attribute without encoding (for early request validation). */
export function validateName(dn: DistinguishedName): void {
  for (const attribute of ATTRIBUTES) {
    const value = dn[attribute.key];
    if (value !== undefined) checkValue(attribute, value);
  }
}

export function encodeName(dn: DistinguishedName): Buffer {
  const rdns: Buffer[] = [];
  for (const attribute of ATTRIBUTES) {
    const value = dn[attribute.key];
    if (value === undefined || value === '') continue;
    checkValue(attribute, value);
    rdns.push(setOf(sequence(oid(attribute.oid), attribute.encode(value))));
  }
  return sequence(...rdns);
}

/** The attributes Signet knows, by name; others are skipped (a CSR may carry anything). */
export function decodeName(der: Buffer): DistinguishedName {
  const out: DistinguishedName = {};
  for (const rdn of children(expectTag(readDer(der), Tag.SEQUENCE, 'Name'))) {
    for (const atv of children(expectTag(rdn, Tag.SET, 'RelativeDistinguishedName'))) {
      const [type, value] = children(expectTag(atv, Tag.SEQUENCE, 'AttributeTypeAndValue'));
      const attribute = BY_OID.get(readOid(type));
      if (attribute && value && out[attribute.key] === undefined) out[attribute.key] = readString(value);
    }
  }
  return out;
}

/** RFC 4514 3's short names (and openssl's for the PKCS#9 / X.520 ones it prints by name). */
const STRING_NAMES: Record<string, string> = {
  '2.5.4.6': 'C', '2.5.4.8': 'ST', '2.5.4.7': 'L', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.3': 'CN', '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID', '2.5.4.9': 'street', '2.5.4.5': 'serialNumber', '1.2.840.113549.1.9.1': 'emailAddress', '2.5.4.12': 'title',
  '2.5.4.4': 'SN', '2.5.4.42': 'GN', '2.5.4.17': 'postalCode',
};

/** RFC 4514 2.4: `,+"\<>;` escaped, and a leading `#` or space and a trailing space. */
const escapeValue = (value: string) =>
  value.replace(/[,+"\\<>;]/g, (ch) => `\\${ch}`).replace(/^([# ])/, '\\$1').replace(/ $/, '\\ ').replace(/\0/g, '\\00');

/**
 * A Name as an RFC 4514 string, the most specific RDN first (`CN=Issuing CA,O=Acme,C=DE`), as
 * `openssl x509 -noout -subject -nameopt RFC2253,-esc_msb` prints it. Attributes without a short name are
 * their dotted OID with the value's DER in hex (`1.2.3.4=#0C0161`), as the RFC says.
 */
export function formatName(der: Buffer): string {
  const rdns = children(expectTag(readDer(der), Tag.SEQUENCE, 'Name')).map((rdn) =>
    children(expectTag(rdn, Tag.SET, 'RelativeDistinguishedName'))
      .map((atv) => {
        const [type, value] = children(expectTag(atv, Tag.SEQUENCE, 'AttributeTypeAndValue'));
        const id = readOid(type);
        const name = STRING_NAMES[id];
        const text = name && value ? (() => { try { return readString(value); } catch { return null; } })() : null;
        return text === null ? `${id}=#${value ? encoding(value).toString('hex').toUpperCase() : ''}` : `${name}=${escapeValue(text)}`;
      })
      .join('+'),
  );
  return rdns.reverse().join(',');
}
