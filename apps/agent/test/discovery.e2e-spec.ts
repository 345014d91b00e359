/**
 * Discovery, judged against what openssl says of the certificates it made: a tree of PEM, DER and
 * PKCS#12 files from several issuers (one expired, one unreadable, one not a certificate, a symlink
 * loop, a link out of the scan paths), a real nginx found by endpoint probe, a hostile endpoint that never
 * answers; the import of what was found; reports that wait in the spool while the gateway is down.
 */
import { apiCall, apiOk, freePort } from '@signet/testing';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { Server, createServer } from 'node:net';
import { join } from 'node:path';
import {
  Nginx, Stack, agentOnce, fingerprintOf, openssl, opensslCa, opensslExpiredLeaf, opensslLeaf, scratchDir, startNginx, startStack, stopStack,
} from './agent-stack';

jest.setTimeout(240_000);

/** Root runs the agent as nobody, so a mode-000 file is unreadable to it as it would be on a host. */
const NOBODY = process.getuid?.() === 0 ? 65534 : undefined;

describe('signet-agent discovery', () => {
  let stack: Stack;
  let nginx: Nginx;
  let hostile: Server;
  let hostilePort: number;
  const tree = scratchDir('tree');
  const ca = scratchDir('ca');
  let agent: { id: string; key: string };

  const api = (method: string, path: string, body?: object) => apiOk(stack.url, method, path, { key: stack.adminKey, body });
  const discovered = async (query = '') => (await api('GET', `/api/v1/discovered-certificates?pageSize=1000${query}`)).discoveredCertificates as any[];
  const at = (list: any[], location: string) => {
    const found = list.find((d) => d.location === location);
    if (!found) throw new Error(`nothing discovered at ${location}: ${list.map((d) => d.location).join(', ')}`);
    return found;
  };
  const serialOf = (file: string) => openssl(ca, 'x509', '-in', file, '-noout', '-serial').trim().replace(/^serial=/, '').toUpperCase();
  const stateDir = (name: string) => {
    const dir = join(scratchDir('state'), name);
    mkdirSync(dir);
    if (NOBODY !== undefined) chownSync(dir, NOBODY, NOBODY);
    return dir;
  };
  const configFor = (extra: object) => ({ gatewayUrl: stack.url, key: agent.key, pkcs12Passwords: ['', 'changeit'], probeTimeoutSeconds: 2, ...extra });

  beforeAll(async () => {
    stack = await startStack('agent-discovery');
    nginx = await startNginx();
    // An endpoint that takes the connection and never says a word.
    hostile = createServer(() => undefined);
    hostilePort = await freePort();
    await new Promise<void>((resolve) => hostile.listen(hostilePort, '127.0.0.1', resolve));
    const created = await api('POST', '/api/v1/agents', { name: 'web-01' });
    agent = { id: created.agent.id, key: created.key };

    opensslCa(ca, 'acme-root', '/O=Acme Test/CN=Acme Test Root');
    opensslCa(ca, 'other-root', '/O=Other Test/CN=Other Test Root');
    opensslLeaf(ca, 'site', 'acme-root', 'site.example.test', { rsa: true });
    opensslLeaf(ca, 'chained', 'acme-root', 'chained.example.test');
    opensslLeaf(ca, 'api', 'other-root', 'api.example.test');
    opensslLeaf(ca, 'bundle', 'other-root', 'bundle.example.test');
    opensslExpiredLeaf(ca, 'expired', 'acme-root', 'expired.example.test');

    for (const d of ['web', 'web/chain', 'der', 'p12', 'old', 'junk']) mkdirSync(join(tree, d), { recursive: true, mode: 0o755 });
    copyFileSync(join(ca, 'site.crt'), join(tree, 'web/site.crt'));
    copyFileSync(join(ca, 'site.key'), join(tree, 'web/site.key'));
    writeFileSync(join(tree, 'web/chain/fullchain.pem'), readFileSync(join(ca, 'chained.crt'), 'utf8') + readFileSync(join(ca, 'acme-root.crt'), 'utf8'));
    openssl(ca, 'x509', '-in', 'api.crt', '-outform', 'DER', '-out', join(tree, 'der/api.der'));
    openssl(ca, 'pkcs12', '-export', '-in', 'bundle.crt', '-inkey', 'bundle.key', '-certfile', 'other-root.crt', '-passout', 'pass:changeit', '-out', join(tree, 'p12/bundle.p12'));
    copyFileSync(join(ca, 'expired.crt'), join(tree, 'old/expired.crt'));
    writeFileSync(join(tree, 'junk/notes.pem'), 'these are not the certificates you are looking for\n');
    writeFileSync(join(tree, 'junk/readme.txt'), 'plain text, not named like a certificate: passed over quietly\n');
    copyFileSync(join(ca, 'api.crt'), join(tree, 'junk/secret.crt'));
    chmodSync(join(tree, 'junk/secret.crt'), 0o000);
    symlinkSync(tree, join(tree, 'web/loop'));
    symlinkSync(ca, join(tree, 'outside'));
    for (const f of ['web/site.crt', 'web/site.key', 'web/chain/fullchain.pem', 'der/api.der', 'p12/bundle.p12', 'old/expired.crt', 'junk/notes.pem', 'junk/readme.txt']) {
      chmodSync(join(tree, f), 0o644);
    }
  });

  afterAll(async () => {
    nginx?.stop();
    hostile?.close();
    await stopStack(stack);
  });

  it('finds PEM, DER and PKCS#12 certificates of several issuers, nginx by its endpoint, and names what it could not read', async () => {
    const run = await agentOnce(scratchDir('cfg'), configFor({
      scanPaths: [tree], endpoints: [`localhost:${nginx.port}`, `127.0.0.1:${hostilePort}`], stateDir: stateDir('discovery'),
    }), { uid: NOBODY });
    if (run.code !== 0) process.stdout.write(stack.processes[0].output().slice(-5000));
    expect({ code: run.code, output: run.output }).toEqual({ code: 0, output: expect.not.stringContaining('stopped') });

    const list = await discovered();
    const site = at(list, join(tree, 'web/site.crt'));
    expect(site).toMatchObject({
      agentId: agent.id, source: 'filesystem', commonName: 'site.example.test', sanDns: ['site.example.test'], keyAlgorithm: 'RSA-2048',
      hasPrivateKey: true, status: 'active', imported: false, certificateId: null, serialNumber: serialOf('site.crt'),
      fingerprintSha256: fingerprintOf(readFileSync(join(ca, 'site.crt'))),
    });
    expect(site.issuer).toContain('Acme Test Root');

    const chained = at(list, join(tree, 'web/chain/fullchain.pem'));
    expect(chained).toMatchObject({ commonName: 'chained.example.test', hasPrivateKey: false, keyAlgorithm: 'ECDSA-P256' });
    expect(fingerprintOf(chained.chainPem)).toBe(fingerprintOf(readFileSync(join(ca, 'acme-root.crt'))));

    const der = at(list, join(tree, 'der/api.der'));
    expect(der).toMatchObject({ commonName: 'api.example.test', serialNumber: serialOf('api.crt'), hasPrivateKey: false });
    expect(der.issuer).toContain('Other Test Root');

    const p12 = at(list, join(tree, 'p12/bundle.p12'));
    expect(p12).toMatchObject({ commonName: 'bundle.example.test', hasPrivateKey: true, fingerprintSha256: fingerprintOf(readFileSync(join(ca, 'bundle.crt'))) });
    expect(p12.issuer).toContain('Other Test Root');

    const expired = at(list, join(tree, 'old/expired.crt'));
    expect(expired).toMatchObject({ commonName: 'expired.example.test', status: 'expired', daysRemaining: 0, validTo: '2020-02-01T00:00:00.000Z' });

    const endpoint = at(list, `localhost:${nginx.port}`);
    expect(endpoint).toMatchObject({ source: 'network', hasPrivateKey: false, commonName: 'localhost', fingerprintSha256: fingerprintOf(readFileSync(nginx.certPath)) });

    // Nothing from outside the scan paths, and nothing twice through the loop.
    expect(list.filter((d) => d.location.startsWith(ca))).toEqual([]);
    expect(list.filter((d) => d.location.includes('/loop/'))).toEqual([]);

    const { agent: seen } = await api('GET', `/api/v1/agents/${agent.id}`);
    expect(seen).toMatchObject({ status: 'online', version: expect.any(String), lastSeenAt: expect.any(String) });
    const errorAt = (location: string) => seen.lastScan.errors.find((e: { location: string }) => e.location === location)?.error;
    expect(errorAt(join(tree, 'junk/notes.pem'))).toMatch(/not a certificate/);
    expect(errorAt(join(tree, 'web/loop'))).toMatch(/symlink loop/);
    expect(errorAt(join(tree, 'outside'))).toMatch(/outside the configured scan paths/);
    expect(errorAt(`127.0.0.1:${hostilePort}`)).toMatch(/no TLS handshake/);
    if (NOBODY !== undefined) expect(errorAt(join(tree, 'junk/secret.crt'))).toMatch(/permission denied/);
    expect(seen.lastScan.errors.find((e: { location: string }) => e.location.endsWith('readme.txt'))).toBeUndefined();
  });

  it('filters by source, agent, expiry and imported; imports a discovered certificate (expired ones too) with where it was seen', async () => {
    const network = await discovered('&source=network');
    expect(network.length).toBeGreaterThan(0);
    expect(network.every((d) => d.source === 'network')).toBe(true);
    const expiring = await discovered('&expiringInDays=0');
    expect(expiring.map((d) => d.commonName)).toEqual(['expired.example.test']);
    expect((await discovered(`&agentId=${agent.id}`)).length).toBe((await discovered()).length);

    const site = at(await discovered(), join(tree, 'web/site.crt'));
    const imported = await apiCall(stack.url, 'POST', `/api/v1/discovered-certificates/${site.id}/import`, { key: stack.adminKey, body: { notes: 'found on web-01' } });
    expect(imported.status).toBe(201);
    expect(imported.body.certificate).toMatchObject({
      source: 'discovered', caId: null, commonName: 'site.example.test', fingerprintSha256: site.fingerprintSha256, notes: 'found on web-01',
      locations: [expect.objectContaining({ agentId: agent.id, source: 'filesystem', location: join(tree, 'web/site.crt') })],
    });
    const again = await apiCall(stack.url, 'POST', `/api/v1/discovered-certificates/${site.id}/import`, { key: stack.adminKey, body: {} });
    expect([again.status, again.body.code]).toEqual([409, 'conflict']);
    expect((await discovered('&imported=true')).map((d) => d.id)).toEqual([site.id]);
    expect(at(await discovered('&imported=false'), join(tree, 'old/expired.crt')).imported).toBe(false);

    const expired = at(await discovered(), join(tree, 'old/expired.crt'));
    const importedExpired = await apiOk(stack.url, 'POST', `/api/v1/discovered-certificates/${expired.id}/import`, { key: stack.adminKey, body: {} });
    expect(importedExpired.certificate).toMatchObject({ source: 'discovered', status: 'expired' });
    const inventory = await api('GET', '/api/v1/certificates?source=discovered&status=all');
    expect(inventory.certificates.map((c: { commonName: string }) => c.commonName).sort()).toEqual(['expired.example.test', 'site.example.test']);

    const bad = await apiCall(stack.url, 'POST', `/api/v1/discovered-certificates/${expired.id}/import`, { key: stack.adminKey, body: { autoRenew: 'yes' } });
    expect([bad.status, bad.body.code]).toEqual([400, 'validation_failed']);

    // profileId: a Signet CA takes the certificate over at its renewal (a new key; the agent sent none).
    const chained = at(await discovered(), join(tree, 'web/chain/fullchain.pem'));
    const noWay = await apiCall(stack.url, 'POST', `/api/v1/discovered-certificates/${chained.id}/import`, { key: stack.adminKey, body: { autoRenew: true } });
    expect([noWay.status, noWay.body.details?.rule]).toEqual([422, 'autoRenew']);
    const { profile } = await api('POST', '/api/v1/profiles', { caId: stack.caId, name: 'Takeover', slug: 'takeover', allowedDomains: ['example.test'] });
    const takenOver = await apiOk(stack.url, 'POST', `/api/v1/discovered-certificates/${chained.id}/import`, { key: stack.adminKey, body: { autoRenew: true, profileId: profile.id } });
    expect(takenOver.certificate).toMatchObject({ source: 'discovered', caId: null, autoRenew: true, renewal: { status: 'scheduled' } });
    const renewed = await api('POST', `/api/v1/certificates/${takenOver.certificate.id}/renew`, {});
    expect(renewed.certificate).toMatchObject({ source: 'issued', caId: stack.caId, profileId: profile.id, commonName: 'chained.example.test', renewedFromId: takenOver.certificate.id });
    const unknown = await apiCall(stack.url, 'GET', '/api/v1/discovered-certificates?source=everywhere', { key: stack.adminKey });
    expect([unknown.status, unknown.body.code]).toEqual([400, 'validation_failed']);
  });

  it('keeps its reports in the spool while the gateway is down and sends them on the next run', async () => {
    const lone = scratchDir('lone');
    copyFileSync(join(ca, 'bundle.crt'), join(lone, 'spooled.pem'));
    chmodSync(join(lone, 'spooled.pem'), 0o644);
    const state = stateDir('spool');
    const down = await agentOnce(scratchDir('cfg'), configFor({ gatewayUrl: `http://127.0.0.1:${await freePort()}`, scanPaths: [lone], onceRetrySeconds: 1, stateDir: state }), { uid: NOBODY });
    expect(down.code).toBe(1);
    expect(down.output).toMatch(/gateway unreachable/);
    expect(readdirSync(join(state, 'spool')).filter((n) => n.endsWith('.json')).length).toBeGreaterThan(0);
    expect((await discovered()).find((d) => d.location === join(lone, 'spooled.pem'))).toBeUndefined();

    // The next run scans nothing: what it reports is what the first run spooled.
    const up = await agentOnce(scratchDir('cfg'), configFor({ scanPaths: [], stateDir: state }), { uid: NOBODY });
    expect(up.code).toBe(0);
    expect(readdirSync(join(state, 'spool')).filter((n) => n.endsWith('.json'))).toEqual([]);
    expect(at(await discovered(), join(lone, 'spooled.pem'))).toMatchObject({ commonName: 'bundle.example.test' });
  });

  it('reads a host with 10,000 certificate files in one pass', async () => {
    const big = scratchDir('many');
    const names = Array.from({ length: 20 }, (_, i) => `bulk${i}`);
    for (const name of names) opensslLeaf(ca, name, 'acme-root', `${name}.example.test`);
    for (let dir = 0; dir < 100; dir++) {
      mkdirSync(join(big, `d${dir}`), { mode: 0o755 });
      for (let i = 0; i < 100; i++) copyFileSync(join(ca, `${names[(dir + i) % names.length]}.crt`), join(big, `d${dir}`, `c${i}.pem`));
    }
    // The synchronous preparation above can hold the event loop past the gateway's keep-alive timeout: let the
    // loop see the gateway close its idle connection before the next request, which would otherwise go out on
    // that closing socket ("other side closed").
    await new Promise((resolve) => setTimeout(resolve, 50));
    const other = (await api('POST', '/api/v1/agents', { name: 'bulk-host' }));
    const started = Date.now();
    const run = await agentOnce(scratchDir('cfg'), { gatewayUrl: stack.url, key: other.key, scanPaths: [big], stateDir: stateDir('bulk') });
    const seconds = (Date.now() - started) / 1000;
    expect(run.code).toBe(0);
    const page = await api('GET', `/api/v1/discovered-certificates?agentId=${other.agent.id}&pageSize=1`);
    expect(page.total).toBe(10_000);
    // Measured, not judged here (no timings in tests): the figure goes in the test output.
    process.stdout.write(`discovery of 10,000 files, reported to the gateway: ${seconds.toFixed(1)} s\n`);
  }, 900_000);
});
