/**
 * Deployment, judged by what is on disk and what nginx serves (openssl s_client): a certificate deployed
 * by hand to a real Debian nginx's files with `nginx -s reload` as the reload command; its renewal by the
 * signer's sweep reaching nginx without an API call; a failing reload rolled back and reported; an agent
 * killed mid-deploy leaving the old files or the new ones; agent keys that open nothing else; webhooks.
 */
import { apiCall, apiOk, freePort } from '@signet/testing';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { IncomingMessage, Server, createServer } from 'node:http';
import { join } from 'node:path';
import { Client } from 'pg';
import {
  AgentRun, Nginx, Stack, agentOnce, fingerprintOf, openssl, read, scratchDir, servedCertificate, spawnAgent, startNginx, startStack, stopStack, until,
} from './agent-stack';

jest.setTimeout(300_000);

describe('signet-agent deployment', () => {
  let stack: Stack;
  let nginx: Nginx;
  let daemon: AgentRun;
  let db: Client;
  let receiver: Server;
  const received: { event: string; data: any }[] = [];
  let agent: { id: string; key: string };
  const work = scratchDir('deploy');
  const brokenDir = join(work, 'broken');
  const crashDir = join(work, 'crash');

  const api = (method: string, path: string, body?: object) => apiOk(stack.url, method, path, { key: stack.adminKey, body });
  const issue = async (commonName: string, extra: object = {}) =>
    (await api('POST', '/api/v1/certificates', { caId: stack.caId, commonName, storeKey: true, validityDays: 30, ...extra })).certificate;
  const settled = (id: string) => until(`deployment ${id} to settle`, async () => {
    const { deployment } = await api('GET', `/api/v1/deployments/${id}`);
    return deployment.status !== 'pending' && deployment;
  });
  const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.includes('.signet-'));

  beforeAll(async () => {
    stack = await startStack('agent-deploy');
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    nginx = await startNginx();
    receiver = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    const receiverPort = await freePort();
    await new Promise<void>((resolve) => receiver.listen(receiverPort, '127.0.0.1', resolve));
    await api('POST', '/api/v1/webhooks', { url: `http://127.0.0.1:${receiverPort}/hook`, events: ['deployment.succeeded', 'deployment.failed'] });

    mkdirSync(brokenDir);
    mkdirSync(crashDir);
    const created = await api('POST', '/api/v1/agents', { name: 'nginx-host' });
    agent = { id: created.agent.id, key: created.key };
    daemon = spawnAgent(work, {
      gatewayUrl: stack.url, key: agent.key, scanPaths: [], heartbeatSeconds: 5, stateDir: join(work, 'state'),
      targets: [
        {
          name: 'nginx', certPath: join(nginx.prefix, 'tls', 'cert.pem'), chainPath: join(nginx.prefix, 'tls', 'chain.pem'), fullchainPath: nginx.certPath,
          keyPath: nginx.keyPath, reloadCommand: nginx.reloadCommand,
        },
        { name: 'broken', certPath: join(brokenDir, 'cert.pem'), keyPath: join(brokenDir, 'key.pem'), reloadCommand: 'echo "config test failed: boom" >&2; exit 3' },
      ],
    }, []);
    await until('the agent to come online', async () => (await api('GET', `/api/v1/agents/${agent.id}`)).agent.status === 'online');
  });

  afterAll(async () => {
    daemon?.child.kill('SIGTERM');
    await daemon?.exited;
    nginx?.stop();
    receiver?.close();
    await db?.end();
    await stopStack(stack);
  });

  it('deploys a certificate to nginx: files written (key 0600), nginx reloaded, and openssl s_client is served the new certificate', async () => {
    const certificate = await issue('localhost');
    const accepted = await apiCall(stack.url, 'POST', `/api/v1/certificates/${certificate.id}/deploy`, { key: stack.adminKey, body: { agentId: agent.id, targets: ['nginx'] } });
    expect(accepted.status).toBe(202);
    expect(accepted.body.deployment).toMatchObject({ status: 'pending', certificateId: certificate.id, agentId: agent.id, trigger: 'manual', targets: [{ name: 'nginx', status: 'pending', error: null }] });

    const done = await settled(accepted.body.deployment.id);
    expect(done).toMatchObject({ status: 'succeeded', targets: [{ name: 'nginx', status: 'succeeded', error: null }], completedAt: expect.any(String) });
    expect(fingerprintOf(read(join(nginx.prefix, 'tls', 'cert.pem')))).toBe(certificate.fingerprintSha256);
    expect(read(nginx.certPath).startsWith(read(join(nginx.prefix, 'tls', 'cert.pem')))).toBe(true);
    expect(statSync(nginx.keyPath).mode & 0o777).toBe(0o600);
    expect(new X509Certificate(read(join(nginx.prefix, 'tls', 'cert.pem'))).checkPrivateKey(createPrivateKey(read(nginx.keyPath)))).toBe(true);
    expect(openssl(nginx.prefix, 'verify', '-partial_chain', '-CAfile', join(nginx.prefix, 'tls', 'chain.pem'), join(nginx.prefix, 'tls', 'cert.pem'))).toMatch(/OK/);
    // nginx's master has the new files once reload returns; the old worker may answer a last connection.
    await until('nginx to serve the deployed certificate', () => fingerprintOf(servedCertificate(nginx.port)) === certificate.fingerprintSha256);
    expect(leftovers(join(nginx.prefix, 'tls'))).toEqual([]);
  });

  it('deploys every renewal by the signer\'s sweep to the deployment targets, without any API call', async () => {
    const certificate = await issue('localhost', { validityDays: 10 });
    const patched = await api('PATCH', `/api/v1/certificates/${certificate.id}`, { autoRenew: true, renewalThresholdDays: 30, deployTargets: [{ agentId: agent.id, target: 'nginx' }] });
    expect(patched.certificate.deployTargets).toEqual([{ agentId: agent.id, target: 'nginx' }]);
    // Due now, in the database (as the renewal tests do): from here on only the sweep and the agent act.
    await db.query(`UPDATE certificates SET valid_from = now() - interval '20 days', valid_to = now() + interval '12 hours' WHERE id = $1`, [certificate.id]);
    // Reads only: the renewed certificate's id, and what nginx serves.
    const renewed = await until('the sweep to renew the certificate', async () => {
      const { certificate: old } = await api('GET', `/api/v1/certificates/${certificate.id}`);
      return old.supersededById && (await api('GET', `/api/v1/certificates/${old.supersededById}`)).certificate;
    }, 120_000);
    await until('nginx to serve the renewed certificate', () => fingerprintOf(servedCertificate(nginx.port)) === renewed.fingerprintSha256, 120_000);
    expect(fingerprintOf(read(join(nginx.prefix, 'tls', 'cert.pem')))).toBe(renewed.fingerprintSha256);
    expect(new X509Certificate(read(join(nginx.prefix, 'tls', 'cert.pem'))).checkPrivateKey(createPrivateKey(read(nginx.keyPath)))).toBe(true);
    expect(renewed.renewedFromId).toBe(certificate.id);
    // The target moved with the renewal: the next one is deployed too.
    const targets = (await db.query(`SELECT certificate_id FROM certificate_deploy_targets WHERE agent_id = $1`, [agent.id])).rows;
    expect(targets).toEqual([{ certificate_id: renewed.id }]);
    const audit = await api('GET', `/api/v1/audit?eventType=deployment.`);
    expect(audit.events.some((e: any) => e.eventType === 'deployment.create' && e.details.trigger === 'renewal' && e.details.certificateId === renewed.id)).toBe(true);
  });

  it('rolls the files back when the reload command fails, and reports the command\'s error', async () => {
    writeFileSync(join(brokenDir, 'cert.pem'), 'the old certificate\n');
    writeFileSync(join(brokenDir, 'key.pem'), 'the old key\n');
    const certificate = await issue('broken.example.test');
    const { deployment } = await api('POST', `/api/v1/certificates/${certificate.id}/deploy`, { agentId: agent.id, targets: ['broken'] });
    const done = await settled(deployment.id);
    expect(done).toMatchObject({ status: 'failed', targets: [{ name: 'broken', status: 'failed' }] });
    expect(done.targets[0].error).toMatch(/exited with 3: config test failed: boom \(the previous files were restored\)/);
    expect([read(join(brokenDir, 'cert.pem')), read(join(brokenDir, 'key.pem'))]).toEqual(['the old certificate\n', 'the old key\n']);
    expect(leftovers(brokenDir)).toEqual([]);
  });

  it('sends deployment.succeeded and deployment.failed webhooks from the audit events', async () => {
    const events = await until('both deployment webhooks', () => {
      const names = new Set(received.map((r) => r.event));
      return names.has('deployment.succeeded') && names.has('deployment.failed') && received;
    });
    const failed = events.find((e) => e.event === 'deployment.failed');
    expect(failed?.data.details).toMatchObject({ agentId: agent.id, status: 'failed', targets: [expect.objectContaining({ name: 'broken', status: 'failed' })] });
  });

  it('refuses an offline agent (409 agent_unavailable), unknown targets and agents (400)', async () => {
    const certificate = await issue('offline.example.test');
    const idle = (await api('POST', '/api/v1/agents', { name: 'never-started' })).agent;
    const offline = await apiCall(stack.url, 'POST', `/api/v1/certificates/${certificate.id}/deploy`, { key: stack.adminKey, body: { agentId: idle.id, targets: ['web'] } });
    expect([offline.status, offline.body.code, offline.body.details]).toEqual([409, 'agent_unavailable', { agentId: idle.id, lastSeenAt: null }]);
    const unknownTarget = await apiCall(stack.url, 'POST', `/api/v1/certificates/${certificate.id}/deploy`, { key: stack.adminKey, body: { agentId: agent.id, targets: ['apache'] } });
    expect([unknownTarget.status, unknownTarget.body.code, unknownTarget.body.details.fields[0].field]).toEqual([400, 'validation_failed', 'targets']);
    const unknownAgent = await apiCall(stack.url, 'POST', `/api/v1/certificates/${certificate.id}/deploy`, { key: stack.adminKey, body: { agentId: '00000000-0000-4000-8000-000000000000', targets: ['nginx'] } });
    expect([unknownAgent.status, unknownAgent.body.details.fields[0].field]).toEqual([400, 'agentId']);
    const garbage = await apiCall(stack.url, 'POST', `/api/v1/certificates/${certificate.id}/deploy`, { key: stack.adminKey, body: { agentId: 7, targets: 'nginx' } });
    expect([garbage.status, garbage.body.code]).toEqual([400, 'validation_failed']);
    const badTargets = await apiCall(stack.url, 'PATCH', `/api/v1/certificates/${certificate.id}`, { key: stack.adminKey, body: { deployTargets: [{ agentId: agent.id, target: 'apache' }] } });
    expect([badTargets.status, badTargets.body.details.fields[0].field]).toEqual([400, 'deployTargets.0.target']);
  });

  it('opens nothing but the agent routes to an agent key, and only for that agent', async () => {
    const viaHeader = (path: string, method = 'GET') => fetch(`${stack.url}${path}`, { method, headers: { 'X-Agent-API-Key': agent.key } });
    for (const path of ['/api/v1/certificates', '/api/v1/whoami', '/api/v1/agents', '/api/v1/discovered-certificates', '/api/v1/cas', '/api/v1/audit', '/api/v1/webhooks']) {
      const bearer = await apiCall(stack.url, 'GET', path, { key: agent.key });
      expect({ path, status: bearer.status, code: bearer.body.code }).toEqual({ path, status: 403, code: 'forbidden' });
      expect({ path, status: (await viaHeader(path)).status }).toEqual({ path, status: 403 });
    }
    const create = await apiCall(stack.url, 'POST', '/api/v1/certificates', { key: agent.key, body: { caId: stack.caId, commonName: 'agent.example.test' } });
    expect(create.status).toBe(403);
    // An org admin key does not open the agent routes either.
    const adminAsAgent = await apiCall(stack.url, 'POST', '/api/v1/agent/heartbeat', { key: stack.adminKey, body: {} });
    expect([adminAsAgent.status, adminAsAgent.body.code]).toEqual([403, 'forbidden']);

    // Another agent cannot report on this agent's deployment.
    const other = await api('POST', '/api/v1/agents', { name: 'other-host' });
    const certificate = await issue('mine.example.test');
    const { deployment } = await api('POST', `/api/v1/certificates/${certificate.id}/deploy`, { agentId: agent.id, targets: ['broken'] });
    const foreign = await apiCall(stack.url, 'POST', `/api/v1/agent/deployments/${deployment.id}/result`, { key: other.key, body: { targets: [{ name: 'broken', status: 'succeeded' }] } });
    expect([foreign.status, foreign.body.code]).toEqual([404, 'not_found']);
    await settled(deployment.id);

    const malformed = await apiCall(stack.url, 'POST', '/api/v1/agent/heartbeat', { key: 'sga_nonsense', body: {} });
    expect(malformed.status).toBe(401);
    await api('DELETE', `/api/v1/agents/${other.agent.id}`);
    const deleted = await apiCall(stack.url, 'POST', '/api/v1/agent/heartbeat', { key: other.key, body: {} });
    expect([deleted.status, deleted.body.code]).toEqual([401, 'unauthorized']);
  });

  describe('an agent killed mid-deploy', () => {
    let crashAgent: { id: string; key: string };
    const config = () => ({
      gatewayUrl: stack.url, key: crashAgent.key, scanPaths: [], stateDir: join(work, 'crash-state'),
      targets: [{ name: 'crashy', certPath: join(crashDir, 'cert.pem'), keyPath: join(crashDir, 'key.pem'), fullchainPath: join(crashDir, 'fullchain.pem'), reloadCommand: 'true' }],
    });
    const onDisk = () => ({ cert: fingerprintOf(read(join(crashDir, 'cert.pem'))), fullchain: fingerprintOf(read(join(crashDir, 'fullchain.pem'))), key: read(join(crashDir, 'key.pem')) });
    const matches = () => new X509Certificate(read(join(crashDir, 'cert.pem'))).checkPrivateKey(createPrivateKey(read(join(crashDir, 'key.pem'))));

    beforeAll(async () => {
      const created = await api('POST', '/api/v1/agents', { name: 'crash-host' });
      crashAgent = { id: created.agent.id, key: created.key };
      openssl(crashDir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '5', '-subj', '/CN=old');
      writeFileSync(join(crashDir, 'fullchain.pem'), read(join(crashDir, 'cert.pem')));
    });

    /** A deployment to the crash host, which says it is online (the heartbeat an agent sends at start). */
    const deployToCrashHost = async (commonName: string) => {
      await apiOk(stack.url, 'POST', '/api/v1/agent/heartbeat', { key: crashAgent.key, body: { targets: [{ name: 'crashy', certPath: join(crashDir, 'cert.pem') }] } });
      const certificate = await issue(commonName);
      const { deployment } = await api('POST', `/api/v1/certificates/${certificate.id}/deploy`, { agentId: crashAgent.id, targets: ['crashy'] });
      return { certificate, deployment };
    };

    it('killed before its journal: the old files stay, and the next run deploys the new ones', async () => {
      const before = onDisk();
      const { certificate, deployment } = await deployToCrashHost('crash-one.example.test');
      const killed = await agentOnce(work, config(), { env: { SIGNET_AGENT_CRASH_AT: 'before-journal' }, configName: 'crash.json' });
      expect(killed.code).toBe(-1);
      expect(onDisk()).toEqual(before);
      expect(matches()).toBe(true);
      expect((await api('GET', `/api/v1/deployments/${deployment.id}`)).deployment.status).toBe('pending');

      const next = await agentOnce(work, config(), { configName: 'crash.json' });
      expect(next.code).toBe(0);
      expect((await api('GET', `/api/v1/deployments/${deployment.id}`)).deployment.status).toBe('succeeded');
      expect(onDisk()).toMatchObject({ cert: certificate.fingerprintSha256, fullchain: certificate.fingerprintSha256 });
      expect(matches()).toBe(true);
      expect(leftovers(crashDir)).toEqual([]);
    });

    it('killed between two renames: the next run finishes the install before anything else (never a mix), then deploys and reports', async () => {
      const { certificate, deployment } = await deployToCrashHost('crash-two.example.test');
      const killed = await agentOnce(work, config(), { env: { SIGNET_AGENT_CRASH_AT: 'after-first-rename' }, configName: 'crash.json' });
      expect(killed.code).toBe(-1);
      // The journal names the install the killed run had decided on.
      expect(existsSync(join(work, 'crash-state', 'journal', 'crashy.json'))).toBe(true);

      const next = await agentOnce(work, config(), { configName: 'crash.json' });
      expect(next.code).toBe(0);
      expect(next.output).toMatch(/recovered crashy: install finished/);
      expect(onDisk()).toMatchObject({ cert: certificate.fingerprintSha256, fullchain: certificate.fingerprintSha256 });
      expect(matches()).toBe(true);
      expect((await api('GET', `/api/v1/deployments/${deployment.id}`)).deployment.status).toBe('succeeded');
      expect(leftovers(crashDir)).toEqual([]);
      expect(existsSync(join(work, 'crash-state', 'journal', 'crashy.json'))).toBe(false);
    });
  });
});
