/**
 * The expectations every real-client test shares, one per step of a certificate's life (issue 13):
 * issued (verifies against the profile's root for each name, carries exactly the names asked for, is in
 * the API as `source: "acme"` under the profile, OCSP good), renewed (all that, and a new serial), and
 * revoked (OCSP and the API say so; earlier certificates of the same names stay good).
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { dnsNamesOf, ocspStatus, pemCertificates, verifyIssued } from './acme-checks';
import type { AcmeStack } from './acme-stack';

export interface ClientFiles {
  /** The client's certificate file (the leaf first; a bundle is fine). */
  cert: string;
  /** The intermediates the client saved beside it. */
  chain: string;
}

export interface Names {
  /** Exactly the SAN DNS names asked for. */
  names: string[];
  /** Host names the certificate must be good for (a wildcard's stand-in); default `names`. */
  verifyAs?: string[];
}

/** The certificate a client holds now checks out; answers it, and where a copy of it is kept (the client may replace the file). */
export async function expectIssued(stack: AcmeStack, files: ClientFiles, { names, verifyAs }: Names): Promise<{ leaf: X509Certificate; copy: string }> {
  const leaf = await verifyIssued(stack.tools, stack, files.cert, files.chain, verifyAs ?? names);
  expect(dnsNamesOf(leaf).sort()).toEqual([...names].sort());
  expect(await stack.certificate(leaf.serialNumber)).toMatchObject({ source: 'acme', profileId: stack.profile.id, status: 'active', acmeAccountId: expect.any(String) });
  expect(await ocspStatus(stack.tools, stack, stack.url, files.cert)).toBe('good');
  const copy = join(stack.dirFor('issued'), `${leaf.serialNumber}.pem`);
  copyFileSync(files.cert, copy);
  return { leaf, copy };
}

/** After a renewal: a certificate with a serial of its own, checked as expectIssued does. */
export async function expectRenewed(stack: AcmeStack, files: ClientFiles, before: X509Certificate, names: Names) {
  const renewed = await expectIssued(stack, files, names);
  expect(renewed.leaf.serialNumber).not.toBe(before.serialNumber);
  return renewed;
}

/** `certFile` is revoked for OCSP and the API; each of `stillGood` is not. */
export async function expectRevoked(stack: AcmeStack, certFile: string, stillGood: string[] = []): Promise<void> {
  expect(await ocspStatus(stack.tools, stack, stack.url, certFile)).toBe('revoked');
  const [leaf] = pemCertificates(certFile);
  expect(await stack.certificate(leaf.serialNumber)).toMatchObject({ source: 'acme', status: 'revoked' });
  for (const file of stillGood) expect(await ocspStatus(stack.tools, stack, stack.url, file)).toBe('good');
}
