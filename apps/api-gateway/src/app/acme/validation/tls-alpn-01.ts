/**
 * tls-alpn-01 (RFC 8737; IP identifiers RFC 8738 section 6): a TLS handshake with the name's own
 * address on ACME_TLSALPN01_PORT, offering only the `acme-tls/1` protocol, and a look at the
 * self-signed certificate it presents. Any certificate is accepted for the handshake; then:
 *
 * - the negotiated protocol is `acme-tls/1`;
 * - subjectAltName holds exactly one name, the identifier (dNSName, or iPAddress for an IP);
 * - the id-pe-acmeIdentifier extension is present and critical, its value the DER of
 *
 *     Authorization ::= OCTET STRING (SIZE (32))   -- SHA-256 of the key authorization
 *     id-pe-acmeIdentifier OBJECT IDENTIFIER ::= { id-pe 31 }   -- 1.3.6.1.5.5.7.1.31
 *
 * SNI carries the name; for an IP identifier, which SNI cannot carry (RFC 6066), it carries the
 * reverse-mapping name (`4.3.2.1.in-addr.arpa`, `….ip6.arpa`), as RFC 8738 section 6 requires.
 */
import { createHash } from 'node:crypto';
import { TLSSocket, connect } from 'node:tls';
import { DerError, DerNode, Tag, children, content, expectTag, ipToBytes, readDer, readOid } from '@signet/pki';
import { networkFailure, tryAddresses } from './connect';
import { Deadline, bounded } from './deadline';
import { ResolverServers, resolveAddresses } from './name-resolution';
import { ValidationFailure, ValidatorSuccess, ValidationTarget, quote } from './validation-types';

export const ACME_TLS_ALPN_PROTOCOL = 'acme-tls/1';
export const ID_PE_ACME_IDENTIFIER = '1.3.6.1.5.5.7.1.31';
const ID_CE_SUBJECT_ALT_NAME = '2.5.29.17';

/** The reverse-mapping name of an address (RFC 1034 3.5, RFC 3596 2.5), the SNI of an IP identifier. */
export function reverseName(ip: string): string {
  const bytes = ipToBytes(ip);
  if (bytes.length === 4) return `${[...bytes].reverse().join('.')}.in-addr.arpa`;
  const nibbles = [...bytes].flatMap((b) => [b >> 4, b & 0xf]).map((n) => n.toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}

interface Handshake {
  alpn: string | false | null;
  certificate: Buffer | undefined;
}

function handshake(address: string, port: number, servername: string, budgetMs: number, deadline: Deadline): Promise<Handshake> {
  const where = `${address} port ${port} (TLS, SNI ${servername})`;
  return bounded<Handshake>(deadline, { budgetMs, kind: 'connection', detail: `${where}: timed out` }, (resolve, reject) => {
    const socket: TLSSocket = connect({
      host: address,
      port,
      servername,
      ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL],
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    });
    socket.once('secureConnect', () => {
      resolve({ alpn: socket.alpnProtocol, certificate: socket.getPeerX509Certificate()?.raw });
    });
    socket.on('error', (error) => reject(networkFailure(error, where)));
    socket.once('close', () => reject(networkFailure(Object.assign(new Error('connection closed during the handshake'), { code: 'ECONNRESET' }), where)));
    return () => socket.destroy();
  });
}

interface Extension {
  critical: boolean;
  value: Buffer;
}

/** The extensions of a DER certificate by OID; a certificate naming one twice is refused (RFC 5280 4.2). */
function extensionsOf(der: Buffer): Map<string, Extension> {
  const [tbs] = children(expectTag(readDer(der), Tag.SEQUENCE, 'Certificate'));
  const field = children(expectTag(tbs, Tag.SEQUENCE, 'TBSCertificate')).find((f) => f.tag === 0xa3);
  const out = new Map<string, Extension>();
  if (!field) return out;
  for (const ext of children(expectTag(children(field)[0], Tag.SEQUENCE, 'Extensions'))) {
    const parts = children(expectTag(ext, Tag.SEQUENCE, 'Extension'));
    const id = readOid(parts[0]);
    const critical = parts.length === 3 && parts[1].tag === Tag.BOOLEAN && content(parts[1])[0] === 0xff;
    const value = content(expectTag(parts[parts.length - 1], Tag.OCTET_STRING, 'extnValue'));
    if (out.has(id)) throw new ValidationFailure('incorrectResponse', `the certificate has the extension ${id} twice`);
    out.set(id, { critical, value });
  }
  return out;
}

/** Does a GeneralName (RFC 5280 4.2.1.6) name the identifier? dNSName is [2] IA5String, iPAddress [7] OCTET STRING. */
function namesIdentifier(name: DerNode, identifier: ValidationTarget['identifier']): boolean {
  if (identifier.type === 'ip') return name.tag === 0x87 && content(name).equals(ipToBytes(identifier.value));
  return name.tag === 0x82 && content(name).toString('latin1').toLowerCase() === identifier.value;
}

/** RFC 8737 section 3's checks of the presented certificate; throws `incorrectResponse` for the first that fails. */
export function checkAcmeTlsCertificate(der: Buffer, identifier: ValidationTarget['identifier'], keyAuthorization: string): void {
  const expected = createHash('sha256').update(keyAuthorization, 'utf8').digest();
  try {
    const extensions = extensionsOf(der);
    const san = extensions.get(ID_CE_SUBJECT_ALT_NAME);
    if (!san) throw new ValidationFailure('incorrectResponse', 'the certificate has no subjectAltName extension');
    const names = children(expectTag(readDer(san.value), Tag.SEQUENCE, 'GeneralNames'));
    if (names.length !== 1 || !namesIdentifier(names[0], identifier)) {
      const kind = identifier.type === 'ip' ? 'iPAddress' : 'dNSName';
      throw new ValidationFailure('incorrectResponse', `the certificate's subjectAltName must hold exactly one ${kind}, ${quote(identifier.value)} (it holds ${names.length} names)`);
    }
    const acme = extensions.get(ID_PE_ACME_IDENTIFIER);
    if (!acme) throw new ValidationFailure('incorrectResponse', `the certificate has no acmeIdentifier extension (${ID_PE_ACME_IDENTIFIER})`);
    if (!acme.critical) throw new ValidationFailure('incorrectResponse', 'the certificate\'s acmeIdentifier extension is not critical');
    const value = content(expectTag(readDer(acme.value), Tag.OCTET_STRING, 'Authorization'));
    if (!value.equals(expected)) {
      throw new ValidationFailure('incorrectResponse', `the certificate's acmeIdentifier is ${value.toString('hex')}, expected the SHA-256 of the key authorization, ${expected.toString('hex')}`);
    }
  } catch (error) {
    if (error instanceof ValidationFailure) throw error;
    if (error instanceof DerError) throw new ValidationFailure('incorrectResponse', `the certificate could not be read: ${error.message}`);
    throw new ValidationFailure('incorrectResponse', 'the certificate could not be read');
  }
}

export async function validateTlsAlpn01(
  target: ValidationTarget,
  name: string,
  tlsAlpn01Port: number,
  servers: ResolverServers,
  deadline: Deadline,
): Promise<ValidatorSuccess> {
  const ip = target.identifier.type === 'ip';
  const addresses = ip ? [name] : await resolveAddresses(name, servers, deadline);
  const servername = ip ? reverseName(name) : name;
  const { result, tried } = await tryAddresses(addresses, deadline, (address, budgetMs) =>
    handshake(address, tlsAlpn01Port, servername, budgetMs, deadline),
  );
  if (result.alpn !== ACME_TLS_ALPN_PROTOCOL) {
    throw new ValidationFailure('tls', `${tried[tried.length - 1]} port ${tlsAlpn01Port}: the server did not negotiate the ${ACME_TLS_ALPN_PROTOCOL} protocol`);
  }
  if (!result.certificate) throw new ValidationFailure('tls', `${tried[tried.length - 1]} port ${tlsAlpn01Port}: the server presented no certificate`);
  checkAcmeTlsCertificate(result.certificate, { type: target.identifier.type, value: name }, target.keyAuthorization);
  return { addressesTried: tried };
}

