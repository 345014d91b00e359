import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyObject, generateKeyPairSync, sign } from 'node:crypto';
import { OID } from './algorithms';
import { bitString, implicitConstructed, integer, octetString, oid, printableString, sequence, setOf, utf8String } from './der';
import { PkiError } from './errors';
import { MAX_CSR_BYTES, MAX_SANS_PER_KIND, parseCsr, parseCsrSync } from './csr';
import { encodeGeneralNames } from './general-names';
import { toPem } from './pem';

const VECTORS = join(__dirname, '../../testdata/csr');
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
    // Without the signature check (a reader that passes the request on to one that checks it) the flip in
    // the signature itself goes unseen, and nothing else changes.
    const signatureFlipped = Buffer.from(der);
    signatureFlipped[der.length - 5] ^= 0x01;
    await expect(parseCsr(signatureFlipped)).rejects.toMatchObject({ code: 'bad_signature' });
    await expect(parseCsr(signatureFlipped, { verifySignature: false })).resolves.toMatchObject({ commonName: 'flip.example.test', keyAlgorithm: 'ECDSA-P256' });
    await expect(parseCsr('-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----')).rejects.toMatchObject({ code: 'invalid_encoding' });
    await expect(parseCsr('hello')).rejects.toBeInstanceOf(PkiError);
    await expect(parseCsr('A'.repeat(MAX_CSR_BYTES + 4))).rejects.toMatchObject({ code: 'invalid_encoding', message: expect.stringMatching(/16 KiB/) });
    writeFileSync(join(dir, 'done'), '');
  });
});

describe('CSR signatures, keys and subjects beyond the defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-csr2-'));
  let n = 0;
  /** A CSR from `openssl req`, as PEM text; the key is written beside it. */
  const req = (...args: string[]): string => {
    const out = `r${n++}.csr`;
    const r = spawnSync('openssl', ['req', '-new', '-nodes', '-keyout', `${out}.key`, '-out', out, ...args], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return readFileSync(join(dir, out), 'utf8');
  };
  const rsa = ['-newkey', 'rsa:2048', '-subj', '/CN=sig.example.test'];
  const p256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-subj', '/CN=sig.example.test'];
  const pss = (...more: string[]) => ['-sigopt', 'rsa_padding_mode:pss', ...more];

  it.each([
    ['RSA PKCS#1 v1.5 SHA-384', [...rsa, '-sha384'], 'RSA-2048'],
    ['RSA PKCS#1 v1.5 SHA-512', [...rsa, '-sha512'], 'RSA-2048'],
    ['RSA-PSS SHA-256, salt = digest length', [...rsa, '-sha256', ...pss('-sigopt', 'rsa_pss_saltlen:digest')], 'RSA-2048'],
    ['RSA-PSS SHA-384, maximal salt', [...rsa, '-sha384', ...pss('-sigopt', 'rsa_pss_saltlen:max')], 'RSA-2048'],
    ['RSA-PSS SHA-512, salt 0', [...rsa, '-sha512', ...pss('-sigopt', 'rsa_pss_saltlen:0')], 'RSA-2048'],
    ['RSA-PSS SHA-256 with MGF1-SHA-256 named', [...rsa, '-sha256', ...pss('-sigopt', 'rsa_mgf1_md:sha256')], 'RSA-2048'],
    ['ECDSA P-256 with SHA-512', [...p256, '-sha512'], 'ECDSA-P256'],
    ['ECDSA P-384 with SHA-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha256', '-subj', '/CN=sig.example.test'], 'ECDSA-P384'],
  ])('accepts %s', (_, args, algorithm) => {
    const pem = req(...args);
    expect(parseCsrSync(pem).keyAlgorithm).toBe(algorithm);
    return expect(parseCsr(pem)).resolves.toMatchObject({ keyAlgorithm: algorithm, commonName: 'sig.example.test' });
  });

  it.each([
    ['a SHA-1 RSA signature', [...rsa, '-sha1'], 'unsupported_algorithm', /SHA-1/],
    ['a SHA-1 ECDSA signature', [...p256, '-sha1'], 'unsupported_algorithm', /SHA-1/],
    ['RSA-PSS with SHA-1', [...rsa, '-sha1', ...pss()], 'unsupported_algorithm', /SHA-256/],
    ['RSA-PSS with a hash and MGF1 hash that differ', [...rsa, '-sha256', ...pss('-sigopt', 'rsa_mgf1_md:sha512')], 'unsupported_algorithm', /RSA-PSS/],
    ['a 1024-bit RSA key', ['-newkey', 'rsa:1024', '-subj', '/CN=weak.example.test'], 'weak_key', /1024 bits is too weak/],
    ['a P-521 key', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521', '-subj', '/CN=x.example.test'], 'unsupported_key', /P-521/],
    ['an Ed448 key', ['-newkey', 'ed448', '-subj', '/CN=x.example.test'], 'unsupported_key', /ed448/],
  ])('refuses %s', async (_, args, code, why) => {
    const pem = req(...args);
    await expect(parseCsr(pem)).rejects.toMatchObject({ code, message: expect.stringMatching(why) });
    expect(() => parseCsrSync(pem)).toThrow(expect.objectContaining({ code }));
  });

  it('reads every common subject attribute, and keeps the subject bytes for the certificate', async () => {
    const pem = req('-newkey', 'ed25519', '-utf8', '-subj',
      '/C=DE/ST=Berlin/L=Berlin/O=Signet Größe GmbH/OU=Ops/CN=device-7/emailAddress=ops@example.test/serialNumber=SN-42/DC=example/title=Sensor/businessCategory=IoT');
    const csr = await parseCsr(pem);
    expect(csr.subject).toEqual({
      country: 'DE', state: 'Berlin', locality: 'Berlin', organization: 'Signet Größe GmbH', organizationalUnit: 'Ops',
      commonName: 'device-7', emailAddress: 'ops@example.test', serialNumber: 'SN-42', domainComponent: 'example', title: 'Sensor',
      '2.5.4.15': 'IoT',
    });
    expect(csr.commonName).toBe('device-7');
    // subjectDer is the request's own Name: the bytes openssl prints the same subject from.
    const subjectLine = spawnSync('openssl', ['req', '-noout', '-subject', '-nameopt', 'RFC2253'], { input: pem, encoding: 'utf8' }).stdout;
    expect(subjectLine).toMatch(/CN=device-7/);
    expect(csr.der.includes(csr.subjectDer)).toBe(true);
    expect(csr.subjectDer[0]).toBe(0x30);
    expect(spawnSync('openssl', ['req', '-noout', '-pubkey'], { input: pem, encoding: 'utf8' }).stdout.replace(/\s/g, ''))
      .toContain(csr.spkiDer.toString('base64'));
  });

  it('a request with no subject at all has no common name', () => {
    const pem = req('-newkey', 'ed25519', '-subj', '/', '-addext', 'subjectAltName=DNS:only-san.example.test');
    const csr = parseCsrSync(pem);
    expect(csr.commonName).toBeUndefined();
    expect(csr.subject).toEqual({});
    expect(csr.sanDns).toEqual(['only-san.example.test']);
  });

  it('gives the challenge password and every requested extension', async () => {
    const csr = await parseCsr(readFileSync(join(VECTORS, 'ok-openssl-p256-challengepassword-extensions.pem'), 'utf8'));
    expect(csr.challengePassword).toBe('s3cret-enrollment-otp');
    expect(csr.requestedExtensions.map((e) => e.oid)).toEqual(['2.5.29.17', '2.5.29.15', '2.5.29.37']);
    // extnValue contents: SAN and EKU are SEQUENCEs, KeyUsage a BIT STRING.
    expect(csr.requestedExtensions.map((e) => e.value[0])).toEqual([0x30, 0x03, 0x30]);
    const critical = await parseCsr(readFileSync(join(VECTORS, 'ok-python-cryptography-rsa2048-sha512-critical-san.pem'), 'utf8'));
    expect(critical.requestedExtensions.find((e) => e.oid === '2.5.29.17')?.critical).toBe(true);
    expect(csr.requestedExtensions.find((e) => e.oid === '2.5.29.17')?.critical).toBe(false);
  });

  it('takes PEM text or bytes, DER and bare base64 alike; names other structures', async () => {
    const pem = req(...p256);
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    for (const input of [pem, Buffer.from(pem), der, der.toString('base64'), pem.replace(/CERTIFICATE REQUEST/g, 'NEW CERTIFICATE REQUEST')]) {
      expect((await parseCsr(input)).der).toEqual(der);
    }
    const key = readFileSync(join(dir, `r${n - 1}.csr.key`), 'utf8');
    await expect(parseCsr(key)).rejects.toMatchObject({ code: 'not_a_csr', message: expect.stringMatching(/PRIVATE KEY/) });
    const cert = readFileSync(join(VECTORS, 'reject-certificate-not-csr.pem'), 'utf8');
    const certDer = Buffer.from(cert.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    await expect(parseCsr(certDer)).rejects.toMatchObject({ code: 'not_a_csr' });
    await expect(parseCsr(certDer.toString('base64'))).rejects.toMatchObject({ code: 'not_a_csr' });
    await expect(parseCsr(pem + pem)).rejects.toMatchObject({ code: 'invalid_encoding' });
    await expect(parseCsr(`${pem}trailing words`)).rejects.toMatchObject({ code: 'invalid_encoding' });
    await expect(parseCsr(Buffer.concat([der, Buffer.from([0])]))).rejects.toMatchObject({ code: 'invalid_encoding' });
    await expect(parseCsr(pem, { maxBytes: 100 })).rejects.toMatchObject({ code: 'invalid_encoding', message: expect.stringMatching(/100 bytes/) });
    await expect(parseCsr(Buffer.alloc(MAX_CSR_BYTES + 1, 0x30))).rejects.toMatchObject({ code: 'invalid_encoding' });
    await expect(parseCsr('')).rejects.toMatchObject({ code: 'invalid_encoding' });
    await expect(parseCsr(undefined as unknown as string)).rejects.toBeInstanceOf(PkiError);
  });
});

describe('hostile bytes', () => {
  const accepted = Object.entries(index).filter(([, v]) => v.expect === 'accept').map(([file]) => file);

  /** The request's DER, whatever form the vector is in. */
  const derOf = (file: string) => {
    const raw = readFileSync(join(VECTORS, file));
    return file.endsWith('.der') ? raw : Buffer.from(raw.toString().replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  };

  it.each(accepted.map((f) => [f]))('refuses every single-bit flip and every truncation of %s, always with a PkiError', (file) => {
    const der = derOf(file);
    const outcomes = new Map<string, number>();
    const attempt = (bytes: Buffer) => {
      try {
        parseCsrSync(bytes);
        outcomes.set('accepted', (outcomes.get('accepted') ?? 0) + 1);
      } catch (error) {
        const key = error instanceof PkiError ? error.code : `untyped ${String(error)}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
    };
    for (let i = 0; i < der.length; i++) {
      const copy = Buffer.from(der);
      copy[i] ^= 1 << (i % 8);
      attempt(copy);
    }
    for (let length = 0; length < der.length; length++) attempt(der.subarray(0, length));
    const untyped = [...outcomes.keys()].filter((k) => k.startsWith('untyped'));
    expect(untyped).toEqual([]);
    expect(outcomes.get('accepted')).toBeUndefined();
  });
});

describe('the REST request limits, for CSRs too (issue 18)', () => {
  const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cn = (value: Buffer) => setOf(sequence(oid('2.5.4.3'), value));

  /** A signed request no tool would write: `rdns` as the subject, `dns` in an extensionRequest. */
  function csr(rdns: Buffer[], dns: string[] = [], keys: { publicKey: KeyObject; privateKey: KeyObject } = p256()): string {
    const sans = dns.length ? [sequence(oid('1.2.840.113549.1.9.14'), setOf(sequence(sequence(oid('2.5.29.17'), octetString(encodeGeneralNames({ dns, ip: [], email: [], uri: [] }))))))] : [];
    const info = sequence(integer(0), sequence(...rdns), keys.publicKey.export({ type: 'spki', format: 'der' }), implicitConstructed(0, Buffer.concat(sans)));
    const rsa = keys.publicKey.asymmetricKeyType === 'rsa';
    const algorithm = rsa ? sequence(oid(OID.sha256WithRSAEncryption), Buffer.from([0x05, 0x00])) : sequence(oid(OID.ecdsaWithSHA256));
    return toPem('CERTIFICATE REQUEST', sequence(info, algorithm, bitString(sign('sha256', info, keys.privateKey))));
  }
  const refusal = (pem: string) => parseCsr(pem).then(() => null, (e: PkiError) => ({ code: e.code, message: e.message }));

  it('accepts a commonName of 64 characters and refuses one of 65 or 1000', async () => {
    expect((await parseCsr(csr([cn(utf8String('a'.repeat(64)))]))).commonName).toBe('a'.repeat(64));
    for (const length of [65, 1000]) {
      expect(await refusal(csr([cn(utf8String('a'.repeat(length)))]))).toEqual({ code: 'invalid_name', message: "the CSR's commonName is longer than 64 characters" });
    }
    // Characters, not bytes: 64 two-byte characters are fine.
    expect((await parseCsr(csr([cn(utf8String('\u00e9'.repeat(64)))]))).commonName).toHaveLength(64);
    expect(await refusal(csr([cn(utf8String('x')), setOf(sequence(oid('2.5.4.10'), utf8String('o'.repeat(65))))]))).toMatchObject({ code: 'invalid_name', message: expect.stringContaining('organization') });
  });

  it(`accepts ${MAX_SANS_PER_KIND} DNS names and refuses ${MAX_SANS_PER_KIND + 1} or 400`, async () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `h${i}.example.test`);
    expect((await parseCsr(csr([cn(utf8String('x'))], names(MAX_SANS_PER_KIND)))).sanDns).toHaveLength(MAX_SANS_PER_KIND);
    for (const n of [MAX_SANS_PER_KIND + 1, 400]) {
      expect(await refusal(csr([cn(utf8String('x'))], names(n)))).toEqual({ code: 'invalid_name', message: `the CSR asks for ${n} DNS names: at most ${MAX_SANS_PER_KIND} are accepted` });
    }
  });

  it('refuses a PrintableString with a character outside its alphabet, in any attribute', async () => {
    expect((await parseCsr(csr([cn(printableString("Device (1) a-b.c/d:e=f?g+h,'i")) ]))).commonName).toBe("Device (1) a-b.c/d:e=f?g+h,'i");
    for (const bad of ['a@b.test', 'a_b', 'a*b', 'a&b', '\u00e9']) {
      const value = Buffer.concat([Buffer.from([0x13, Buffer.byteLength(bad, 'latin1')]), Buffer.from(bad, 'latin1')]);
      expect(await refusal(csr([cn(value)]))).toMatchObject({ code: 'invalid_name', message: expect.stringContaining('PrintableString') });
    }
    // A repeated attribute is looked at too, not only the first of its type.
    const second = Buffer.concat([Buffer.from([0x13, 3]), Buffer.from('a@b')]);
    expect(await refusal(csr([cn(utf8String('ok')), cn(second)]))).toMatchObject({ code: 'invalid_name' });
  });

  it('refuses RSA public exponents below 65537 (weak_key), and accepts 65537', async () => {
    for (const publicExponent of [3, 17, 257]) {
      const keys = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent });
      expect(await refusal(csr([cn(utf8String('x'))], [], keys))).toEqual({
        code: 'weak_key', message: `RSA public exponent ${publicExponent} is too weak: it must be odd and at least 65537`,
      });
    }
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
    expect((await parseCsr(csr([cn(utf8String('x'))], [], keys))).keyAlgorithm).toBe('RSA-2048');
  });
});
