/**
 * MASTER_KEY rotation end to end, with the built gateway, signer and rotate-master-key.js on a database and
 * queue prefix of this file's own (the rotation re-wraps every key in its database, so no other suite's
 * rows may be there). CAs (one passphrase-protected), an intermediate and certificates (one with a stored
 * key) are made under the old key; the rotation refuses while a signer runs, with a wrong OLD key, and
 * without a protected CA's passphrase, changing nothing each time; then it re-wraps every blob, and a
 * signer with the new key issues from every CA (openssl verifies), hands out the stored key, rebuilds a CRL
 * and signs OCSP, while a signer with the old key can open no CA key any more.
 */
import {
  RunningService, builtMainOf, createTestDatabase, dropTestDatabase, freePort, spawnService, stopService, testServiceEnv, waitForHttp,
} from '@signet/testing';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import Redis from 'ioredis';
import { open, transportKeyFrom } from '@signet/queue';

const dir = mkdtempSync(join(tmpdir(), 'signet-rotation-'));
const openssl = (...args: string[]) => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
};
const file = (name: string, data: string) => {
  writeFileSync(join(dir, name), data);
  return name;
};
const ADMIN_KEY = `rotation-admin-${randomBytes(16).toString('hex')}`;
const PASSPHRASE = 'correct horse battery staple';
const OLD_KEY = randomBytes(32).toString('base64');
const NEW_KEY = randomBytes(32).toString('base64');

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('MASTER_KEY rotation (rotate-master-key.js)', () => {
  const prefix = `${process.env.QUEUE_PREFIX}-rotation`;
  let databaseUrl: string;
  let env: Record<string, string>;
  let gateway: RunningService;
  let signer: RunningService | undefined;
  let base: string;
  let db: Client;
  let orgKey: string;
  const ca = { root: '', locked: '', intermediate: '' };
  let eab: { eabKey: { id: string }; hmacKey: string };
  let stored: { id: string; privateKey: string; certificatePem: string };
  let leaf: { id: string; serialNumber: string; certificatePem: string };

  const startSigner = async (masterKey: string) => {
    const port = await freePort();
    const started = spawnService('signer', { ...env, MASTER_KEY: masterKey, SIGNER_HEALTH_PORT: String(port), CRL_REBUILD_DELAY_MS: '100' });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, started);
    return started;
  };
  const api = async (method: string, path: string, body?: unknown, key = orgKey) => {
    const res = await fetch(`${base}${path}`, {
      method, headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text);
    } catch {
      // a PEM download
    }
    return { status: res.status, body: json as Record<string, any>, text };
  };
  const created = async (path: string, body: unknown) => {
    const res = await api('POST', path, body);
    if (res.status !== 201) throw new Error(`${path}: ${res.status} ${res.text}`);
    return res.body;
  };
  const rotate = (keys: { old: string; new: string }, flags: string[] = [], extra: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [join(dirname(builtMainOf('signer')), 'rotate-master-key.js'), ...flags], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, REDIS_URL: env.REDIS_URL, QUEUE_PREFIX: prefix, OLD_MASTER_KEY: keys.old, NEW_MASTER_KEY: keys.new, ...extra },
      encoding: 'utf8',
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const passphrasesFile = (contents: Record<string, string>) => {
    const path = join(dir, `passphrases-${randomBytes(4).toString('hex')}.json`);
    writeFileSync(path, JSON.stringify(contents));
    chmodSync(path, 0o600);
    return path;
  };
  const blobs = async () =>
    (await db.query(`SELECT id, encode(encrypted_key, 'hex') AS blob FROM cas UNION ALL SELECT id, encode(encrypted_key, 'hex') FROM certificates WHERE encrypted_key IS NOT NULL ORDER BY 1`)).rows as { id: string; blob: string }[];
  const issueFrom = (caId: string, commonName: string, extra: Record<string, unknown> = {}) => api('POST', '/api/v1/certificates', { caId, commonName, ...extra });
  /** The certificate verifies up to its root with openssl. */
  const verifies = async (caId: string, certificatePem: string) => {
    const chain: string[] = (await api('GET', `/api/v1/cas/${caId}/chain`)).body.chain;
    file('root.pem', chain[chain.length - 1]);
    file('untrusted.pem', chain.slice(0, -1).join('') || chain[0]);
    file('leaf.pem', certificatePem);
    return openssl('verify', '-CAfile', 'root.pem', '-untrusted', 'untrusted.pem', 'leaf.pem').out;
  };

  beforeAll(async () => {
    databaseUrl = await createTestDatabase(process.env.DATABASE_URL);
    env = { ...testServiceEnv(), DATABASE_URL: databaseUrl, QUEUE_PREFIX: prefix };
    db = new Client({ connectionString: databaseUrl });
    await db.connect();
    signer = await startSigner(OLD_KEY);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    gateway = spawnService('api-gateway', {
      ...env, PORT: String(port), HTTPS_PORT: String(await freePort()), HOST: '127.0.0.1', PLATFORM_ADMIN_KEY: ADMIN_KEY, PUBLIC_BASE_URL: base, RATE_LIMIT_GENERAL: '100000', RATE_LIMIT_ISSUE: '100000',
    });
    await waitForHttp(`${base}/healthz`, gateway);
    orgKey = (await api('POST', '/api/v1/platform/orgs', { name: 'Rotation', slug: `rotation-${randomBytes(4).toString('hex')}` }, ADMIN_KEY)).body.adminKey;

    ca.root = (await created('/api/v1/cas', { name: 'Root', subject: { commonName: 'Rotation Root' } })).ca.id;
    ca.locked = (await created('/api/v1/cas', { name: 'Locked', subject: { commonName: 'Rotation Locked Root' }, keyAlgorithm: 'RSA-2048', passphrase: PASSPHRASE })).ca.id;
    ca.intermediate = (await created('/api/v1/cas', { name: 'Intermediate', subject: { commonName: 'Rotation Intermediate' }, parentCaId: ca.root })).ca.id;
    const lockedLeaf = await created('/api/v1/certificates', { caId: ca.locked, commonName: 'locked.example.test', caPassphrase: PASSPHRASE });
    expect(await verifies(ca.locked, lockedLeaf.certificate.certificatePem)).toContain('leaf.pem: OK');
    leaf = (await created('/api/v1/certificates', { caId: ca.intermediate, commonName: 'leaf.example.test' })).certificate;
    const kept = await created('/api/v1/certificates', { caId: ca.intermediate, commonName: 'stored.example.test', storeKey: true });
    stored = { id: kept.certificate.id, privateKey: kept.privateKey, certificatePem: kept.certificate.certificatePem };
    await created('/api/v1/certificates', { caId: ca.root, commonName: 'root-leaf.example.test', storeKey: true });
    expect((await db.query(`SELECT has_passphrase FROM cas WHERE id = $1`, [ca.locked])).rows[0].has_passphrase).toBe(true);
    // An ACME EAB key: its HMAC key is sealed to the transport key MASTER_KEY derives.
    const profile = (await created('/api/v1/profiles', { name: 'ACME', slug: 'acme', caId: ca.intermediate })).profile;
    eab = (await created('/api/v1/acme/eab-keys', { profileId: profile.id })) as typeof eab;
  });
  afterAll(async () => {
    if (signer) await stopService(signer);
    if (gateway) await stopService(gateway);
    await db?.end();
    if (databaseUrl) await dropTestDatabase(databaseUrl);
  });

  it('refuses, changing nothing: while a signer runs, with a wrong OLD key, without a protected CA passphrase; a dry run changes nothing either', async () => {
    const before = await blobs();
    expect(before).toHaveLength(5); // three CAs, two stored keys
    const passphrases = passphrasesFile({ [ca.locked]: PASSPHRASE });

    const running = rotate({ old: OLD_KEY, new: NEW_KEY }, [], { CA_PASSPHRASES_FILE: passphrases });
    expect(running.status).toBe(1);
    expect(running.out).toMatch(/signer worker\(s\) still consume queue/);
    expect(await stopService(signer!)).toBe(0);
    signer = undefined;

    const wrong = rotate({ old: randomBytes(32).toString('base64'), new: NEW_KEY }, [], { CA_PASSPHRASES_FILE: passphrases });
    expect(wrong.status).toBe(1);
    expect(wrong.out).toMatch(/refused: cas [0-9a-f-]{36}: does not open with OLD_MASTER_KEY/);
    expect(wrong.out).toMatch(/nothing was changed/);

    const noPassphrase = rotate({ old: OLD_KEY, new: NEW_KEY });
    expect(noPassphrase.status).toBe(1);
    expect(noPassphrase.out).toContain(`cas ${ca.locked}: passphrase-protected CA: give its passphrase in CA_PASSPHRASES_FILE`);

    const wrongPassphrase = rotate({ old: OLD_KEY, new: NEW_KEY }, [], { CA_PASSPHRASES_FILE: passphrasesFile({ [ca.locked]: 'not the passphrase' }) });
    expect(wrongPassphrase.status).toBe(1);
    expect(wrongPassphrase.out).toContain(`cas ${ca.locked}: does not open with OLD_MASTER_KEY and the passphrase given`);

    // Keys only from the environment; anything else on the command line is refused without being echoed.
    const argv = rotate({ old: OLD_KEY, new: NEW_KEY }, [NEW_KEY]);
    expect(argv.status).toBe(64);
    expect(argv.out).not.toContain(NEW_KEY);
    const lax = passphrasesFile({ [ca.locked]: PASSPHRASE });
    chmodSync(lax, 0o644);
    expect(rotate({ old: OLD_KEY, new: NEW_KEY }, [], { CA_PASSPHRASES_FILE: lax }).status).toBe(64);

    const dry = rotate({ old: OLD_KEY, new: NEW_KEY }, ['--dry-run'], { CA_PASSPHRASES_FILE: passphrases });
    expect(dry.out).toContain('dry run passed: 3 CA keys, 2 stored keys and 1 ACME EAB keys open with OLD_MASTER_KEY');
    expect(dry.status).toBe(0);

    expect(await blobs()).toEqual(before);
  });

  it('re-wraps every blob under the new key; a signer with it issues from every CA, hands out the stored key, rebuilds a CRL and signs OCSP', async () => {
    const before = await blobs();
    const redis = new Redis(env.REDIS_URL);
    try {
      expect(await redis.get(`${prefix}:signer:transport-key`)).toBeTruthy();
      const done = rotate({ old: OLD_KEY, new: NEW_KEY }, [], { CA_PASSPHRASES_FILE: passphrasesFile({ [ca.locked]: PASSPHRASE }) });
      expect(done.out).toContain('done: 3 CA keys, 2 stored keys and 1 ACME EAB keys now sealed under NEW_MASTER_KEY');
      expect(done.status).toBe(0);
      expect(done.out).not.toContain(OLD_KEY);
      expect(done.out).not.toContain(NEW_KEY);
      // The old transport key is withdrawn: producers wait for a signer with the new one.
      expect(await redis.get(`${prefix}:signer:transport-key`)).toBeNull();
    } finally {
      redis.disconnect();
    }
    const after = await blobs();
    expect(after.map((b) => b.id)).toEqual(before.map((b) => b.id));
    for (const [i, row] of after.entries()) expect(row.blob).not.toBe(before[i].blob);
    // The passphrase layer is still there (flag byte of the blob) and still needed.
    expect((await db.query(`SELECT get_byte(encrypted_key, 1) AS flags, has_passphrase FROM cas WHERE id = $1`, [ca.locked])).rows[0]).toEqual({ flags: 1, has_passphrase: true });
    const audit = (await db.query(`SELECT details FROM audit_events WHERE event_type = 'platform.master_key.rotate'`)).rows;
    expect(audit).toEqual([{ details: { rewrapped: { cas: 3, certificates: 2 }, resealedEabKeys: 1, skipped: [] } }]);
    // The EAB key opens with the new MASTER_KEY's transport key, to the HMAC key shown at its creation.
    const sealedEab = (await db.query(`SELECT encrypted_key FROM acme_eab_keys WHERE id = $1`, [eab.eabKey.id])).rows[0].encrypted_key.toString('utf8');
    expect(open(sealedEab, transportKeyFrom(Buffer.from(NEW_KEY, 'base64')).privateKey)).toBe(eab.hmacKey);

    signer = await startSigner(NEW_KEY);
    for (const [name, caId] of Object.entries(ca)) {
      const res = await issueFrom(caId, `${name}-after.example.test`, name === 'locked' ? { caPassphrase: PASSPHRASE } : {});
      expect(res.status).toBe(201);
      expect(await verifies(caId, res.body.certificate.certificatePem)).toContain('leaf.pem: OK');
    }
    const lockedWithout = await issueFrom(ca.locked, 'no-passphrase.example.test');
    expect(lockedWithout.status).toBe(409);
    expect(lockedWithout.body.code).toBe('ca_unavailable');

    const key = await api('GET', `/api/v1/certificates/${stored.id}/download?format=key`);
    expect(key.status).toBe(200);
    expect(key.text).toBe(stored.privateKey);
    file('stored.key', key.text);
    file('stored.pem', stored.certificatePem);
    expect(openssl('pkey', '-in', 'stored.key', '-pubout').out).toBe(openssl('x509', '-in', 'stored.pem', '-noout', '-pubkey').out);

    // A revocation under the new key: the CRL is rebuilt and signed, OCSP answers revoked (and good for another).
    const crlBefore = (await api('GET', `/api/v1/cas/${ca.intermediate}/crl?format=info`)).body;
    expect((await api('POST', `/api/v1/certificates/${leaf.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
    const crl = await until('the rebuilt CRL', async () => {
      const info = (await api('GET', `/api/v1/cas/${ca.intermediate}/crl?format=info`)).body;
      return info.revokedSerials?.includes(leaf.serialNumber) && info;
    });
    expect(Number(crl.crlNumber)).toBeGreaterThan(Number(crlBefore.crlNumber ?? 0));
    const chain: string[] = (await api('GET', `/api/v1/cas/${ca.intermediate}/chain`)).body.chain;
    file('intermediate.pem', chain[0]);
    file('root.pem', chain[1]);
    file('revoked.pem', leaf.certificatePem);
    const crlPem = await fetch(`${base}/api/v1/cas/${ca.intermediate}/crl?format=pem`, { headers: { Authorization: `Bearer ${orgKey}` } }).then((r) => r.text());
    file('intermediate.crl', crlPem);
    expect(openssl('crl', '-in', 'intermediate.crl', '-CAfile', 'intermediate.pem', '-noout').out).toMatch(/verify OK/);
    const ocsp = (cert: string) => openssl('ocsp', '-issuer', 'intermediate.pem', '-cert', cert, '-url', `${base}/pki/ocsp`, '-CAfile', 'root.pem', '-no_nonce', '-timeout', '10').out;
    expect(ocsp('revoked.pem')).toMatch(/revoked\.pem: revoked[\s\S]*Reason: keyCompromise/);
    expect(ocsp('revoked.pem')).toMatch(/Response verify OK/);
    expect(ocsp('stored.pem')).toMatch(/stored\.pem: good/);
  });

  it('a signer with the old key opens no CA key any more; rotating again with the old key as OLD changes nothing', async () => {
    expect(await stopService(signer!)).toBe(0);
    signer = await startSigner(OLD_KEY);
    const refused = await issueFrom(ca.root, 'old-key.example.test');
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('ca_unavailable');
    expect(refused.body.error).toMatch(/cannot be decrypted with this MASTER_KEY/);
    const key = await api('GET', `/api/v1/certificates/${stored.id}/download?format=key`);
    expect(key.status).toBeGreaterThanOrEqual(500);
    expect(key.text).not.toContain('PRIVATE KEY');
    expect(await stopService(signer)).toBe(0);
    signer = undefined;

    const before = await blobs();
    const again = rotate({ old: OLD_KEY, new: randomBytes(32).toString('base64') }, [], { CA_PASSPHRASES_FILE: passphrasesFile({ [ca.locked]: PASSPHRASE }) });
    expect(again.status).toBe(1);
    expect(again.out).toMatch(/does not open with OLD_MASTER_KEY/);
    expect(await blobs()).toEqual(before);
  });

  it('--skip-unreadable re-wraps what opens and leaves the rest, listed, as it was', async () => {
    const before = await blobs();
    const newer = randomBytes(32).toString('base64');
    const skipped = rotate({ old: NEW_KEY, new: newer }, ['--skip-unreadable']);
    expect(skipped.status).toBe(0);
    expect(skipped.out).toContain(`1 blob(s) skipped and left under the OLD key (unusable with the new one): cas ${ca.locked}`);
    expect(skipped.out).toContain('done: 2 CA keys, 2 stored keys and 1 ACME EAB keys now sealed under NEW_MASTER_KEY');
    const after = await blobs();
    for (const [i, row] of after.entries()) {
      if (row.id === ca.locked) expect(row.blob).toBe(before[i].blob);
      else expect(row.blob).not.toBe(before[i].blob);
    }
  });
});
