import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PkiError } from './errors';
import { MAX_CSR_BYTES, parseCsr, parseCsrSync } from './csr';

const VECTORS = '/work/shared/vectors/csr';
const index: Record<string, { expect: 'accept' | 'reject'; why?: string; commonName?: string; keyAlgorithm?: string; sanDns?: string[]; sanIp?: string[]; sanEmail?: string[]; sanUri?: string[] }> =
  JSON.parse(readFileSync(join(VECTORS, 'index.json'), 'utf8'));

describe('CSR vectors from OpenSSL, Go and Python cryptography', () => {
  it('covers every vector file', () => {
    expect(readdirSync(VECTORS).filter((f) => f !== 'index.json' && f !== 'README.md').sort()).toEqual(Object.keys(index).sort());
  });

  const accepted = Object.entries(index).filter(([, v]) => v.expect === 'accept');
  const rejected = Object.entries(index).filter(([, v]) => v.expect === 'reject');

  it.each(accepted)('accepts %s with the expected names and key', async (file, expected) => {
    const input = readFileSync(join(VECTORS, file));
    for (const csr of [await parseCsr(file.endsWith('.der') ? input : input.toString()), parseCsrSync(input)]) {
      expect({
        commonName: csr.commonName,
        keyAlgorithm: csr.keyAlgorithm,
        sanDns: csr.sanDns,
        sanIp: csr.sanIp,
        sanEmail: csr.sanEmail,
        sanUri: csr.sanUri,
      }).toEqual({
        commonName: expected.commonName,
        keyAlgorithm: expected.keyAlgorithm,
        sanDns: expected.sanDns,
        sanIp: expected.sanIp,
        sanEmail: expected.sanEmail,
        sanUri: expected.sanUri,
      });
    }
  });

  it.each(rejected)('rejects %s with a typed, readable error', async (file, expected) => {
    const input = readFileSync(join(VECTORS, file));
    const error = await parseCsr(input).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(PkiError);
    expect((error as PkiError).message.length).toBeGreaterThan(10);
    expect(() => parseCsrSync(input)).toThrow(PkiError);
    const codes: Record<string, string[]> = {
      'reject-certificate-not-csr.pem': ['not_a_csr'],
      'reject-dsa-key.pem': ['unsupported_key'],
      'reject-p256-sha1-signature.pem': ['unsupported_algorithm'],
      'reject-p521-unsupported-curve.pem': ['unsupported_key'],
      'reject-secp256k1-unsupported-curve.pem': ['unsupported_key'],
      'reject-rsa1024-weak-key.pem': ['weak_key'],
      'reject-tampered-signature.pem': ['bad_signature'],
      'reject-tampered-subject.pem': ['bad_signature', 'invalid_encoding'],
      'reject-trailing-garbage.der': ['invalid_encoding'],
    };
    if (codes[file]) expect(codes[file]).toContain((error as PkiError).code);
    void expected;
  });
});

describe('CSRs made by the openssl CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-csr-'));
  const openssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  };
  const cases: [string, string[], string, string[]][] = [
    ['RSA-2048', ['-newkey', 'rsa:2048'], 'RSA-2048', []],
    ['RSA-3072', ['-newkey', 'rsa:3072'], 'RSA-3072', []],
    ['RSA-4096', ['-newkey', 'rsa:4096'], 'RSA-4096', []],
    ['RSA-2048 PSS', ['-newkey', 'rsa:2048'], 'RSA-2048', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32']],
    ['P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'ECDSA-P256', []],
    ['P-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384'], 'ECDSA-P384', []],
    ['Ed25519', ['-newkey', 'ed25519'], 'Ed25519', []],
  ];
  it.each(cases)('%s', async (name, keyArgs, algorithm, sigArgs) => {
    const file = `${name.replace(/\W/g, '')}.csr`;
    openssl('req', '-new', ...keyArgs, ...sigArgs, '-nodes', '-keyout', `${file}.key`, '-subj', '/CN=cli.example.test/O=Signet',
      '-addext', 'subjectAltName=DNS:cli.example.test,IP:10.0.0.1,email:a@example.test,URI:https://example.test/x', '-out', file);
    const csr = await parseCsr(readFileSync(join(dir, file), 'utf8'));
    expect(csr.keyAlgorithm).toBe(algorithm);
    expect(csr.subject).toEqual({ commonName: 'cli.example.test', organization: 'Signet' });
    expect([csr.sanDns, csr.sanIp, csr.sanEmail, csr.sanUri]).toEqual([['cli.example.test'], ['10.0.0.1'], ['a@example.test'], ['https://example.test/x']]);
  });

  it('refuses a byte-flipped request, garbage and oversized input', async () => {
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'f.key', '-subj', '/CN=flip.example.test', '-outform', 'DER', '-out', 'f.der');
    const der = readFileSync(join(dir, 'f.der'));
    let refused = 0;
    for (let i = 0; i < der.length; i += 7) {
      const copy = Buffer.from(der);
      copy[i] ^= 0x01;
      if (await parseCsr(copy).then(() => false, (e) => e instanceof PkiError)) refused++;
    }
    // Every flip is refused, except a few in the signature's DER INTEGER padding region that still parse
    // but then fail verification: all must be refused.
    expect(refused).toBe(Math.ceil(der.length / 7));
    await expect(parseCsr('-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----')).rejects.toMatchObject({ code: 'invalid_encoding' });
    await expect(parseCsr('hello')).rejects.toBeInstanceOf(PkiError);
    await expect(parseCsr('A'.repeat(MAX_CSR_BYTES + 4))).rejects.toMatchObject({ code: 'invalid_encoding', message: expect.stringMatching(/16 KiB/) });
    writeFileSync(join(dir, 'done'), '');
  });
});
