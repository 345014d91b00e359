/**
 * Traces across the queue (issue 19): the built gateway and the built signer, both with
 * OTEL_EXPORTER_OTLP_ENDPOINT pointing at an OTLP/HTTP receiver in this process, issue a certificate
 * for a request that carries its own W3C `traceparent`. One trace then holds the gateway's HTTP span
 * (continuing the caller's), its queue producer span, and the signer's job span with its sign and
 * store steps, each the child of the one before. An enrollment on 8443 (the enroll server with the same
 * endpoint) is one trace the same way: its request span, its producer span, the signer's job span.
 */
import { RunningService, apiOk, freePort, spawnService, startGatewayProcess, startSigner, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, createServer } from 'node:http';
import { sleep } from './support';

const PLATFORM_ADMIN_KEY = 'tracing-platform-admin-key-0123456789abcdef';

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  links: { traceId: string; spanId: string }[];
}

/** OTLP span kinds (the JSON encoding's numbers). */
const KIND = { internal: 1, server: 2, producer: 4, consumer: 5 } as const;

/** An OTLP/HTTP JSON receiver: POST /v1/traces, every span kept with its resource's service.name. */
function otlpReceiver(): { server: Server; spans: ReceivedSpan[]; requests: { path: string; contentType: string }[] } {
  const spans: ReceivedSpan[] = [];
  const requests: { path: string; contentType: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', contentType: String(req.headers['content-type'] ?? '') });
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const payload = JSON.parse(body);
      for (const rs of payload.resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a: { key: string }) => a.key === 'service.name')?.value?.stringValue ?? '';
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, kind: s.kind,
              links: (s.links ?? []).map((l: { traceId: string; spanId: string }) => ({ traceId: l.traceId, spanId: l.spanId })),
            });
          }
        }
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  return { server, spans, requests };
}

describe('traces from the gateway through the signer', () => {
  const receiver = otlpReceiver();
  let signer: RunningService;
  let gateway: RunningService;
  let enroll: RunningService;
  let enrollUrl: string;
  let gatewayUrl: string;
  let adminKey: string;
  let caId: string;

  const call = (method: string, path: string, body?: object, headers: Record<string, string> = {}) => apiOk(gatewayUrl, method, path, { body, key: adminKey, headers });

  /** Spans arrive in batches (OTEL_BSP_SCHEDULE_DELAY): wait until `ready` holds of what arrived. */
  const spansUntil = async (ready: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> => {
    for (let i = 0; i < 200 && !ready(receiver.spans); i++) await sleep(100);
    return receiver.spans;
  };

  beforeAll(async () => {
    const receiverPort = await freePort();
    await new Promise<void>((resolve) => receiver.server.listen(receiverPort, '127.0.0.1', resolve));
    const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`, OTEL_BSP_SCHEDULE_DELAY: '100' };
    signer = await startSigner(tracing);
    ({ gateway, url: gatewayUrl } = await startGatewayProcess({ ...tracing, PLATFORM_ADMIN_KEY }));
    adminKey = PLATFORM_ADMIN_KEY;
    adminKey = (await call('POST', '/api/v1/platform/orgs', { name: 'Traced org', slug: `traced-${randomBytes(4).toString('hex')}` })).adminKey;
    caId = (await call('POST', '/api/v1/cas', { name: 'Traced', subject: { commonName: 'Traced Root' } })).ca.id;
    await call('POST', '/api/v1/enrollment-policies', { name: 'Traced devices', trustedCaIds: [caId], issuingCaId: caId, subjectRule: 'match-client-cn' });
    const [enrollPort, enrollHealthPort] = [await freePort(), await freePort()];
    enroll = spawnService('enroll', {
      ...testServiceEnv(), ...tracing, ENROLL_PORT: String(enrollPort), ENROLL_HEALTH_PORT: String(enrollHealthPort), ENROLL_TLS_CA_ID: caId,
      ENROLL_TLS_HOSTNAMES: 'localhost,127.0.0.1', ENROLL_TRUST_POLL_MS: '500',
    });
    await waitForHttp(`http://127.0.0.1:${enrollHealthPort}/healthz`, enroll);
    enrollUrl = `https://127.0.0.1:${enrollPort}`;
  }, 60_000);

  afterAll(async () => {
    const codes = await Promise.all([gateway && stopService(gateway), enroll && stopService(enroll), signer && stopService(signer)]);
    await new Promise((resolve) => receiver.server.close(resolve));
    expect(codes).toEqual([0, 0, 0]);
  });

  it('one trace covers the HTTP request, the queue hop and the signer job, each span the child of the one before', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const issued = await call('POST', '/api/v1/certificates', { caId, commonName: 'traced.example.test', keyAlgorithm: 'ECDSA-P256' }, { traceparent: `00-${traceId}-${callerSpanId}-01` });
    expect(issued.certificate.commonName).toBe('traced.example.test');

    const inTrace = (spans: ReceivedSpan[]) => spans.filter((s) => s.traceId === traceId);
    const spans = inTrace(await spansUntil((all) => ['certificate.store', 'POST'].every((prefix) => inTrace(all).some((s) => s.name.startsWith(prefix)))));
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const one = (predicate: (s: ReceivedSpan) => boolean, what: string) => {
      const found = spans.filter(predicate);
      if (found.length !== 1) throw new Error(`expected one ${what} span, got ${found.length}: ${JSON.stringify(spans, null, 1)}`);
      return found[0];
    };

    // The gateway's HTTP span continues the caller's context.
    const request = one((s) => s.service === 'signet-gateway' && s.kind === KIND.server, 'gateway HTTP');
    expect(request.parentSpanId).toBe(callerSpanId);
    // The queue hop: a producer span under the request (a coalesced job's batch span may sit between).
    const producer = one((s) => s.service === 'signet-gateway' && s.kind === KIND.producer, 'gateway producer');
    expect(producer.name).toBe('signer.queue certificate.issueMany');
    // The signer's job span is the producer's child, in another process: the context crossed the queue.
    const job = one((s) => s.service === 'signet-signer' && s.kind === KIND.consumer, 'signer job');
    expect(job.name).toBe('signer certificate.issueMany');
    expect(job.parentSpanId).toBe(producer.spanId);
    const ancestors = (span: ReceivedSpan): string[] => {
      const chain: string[] = [];
      for (let parent = byId.get(span.parentSpanId); parent; parent = byId.get(parent.parentSpanId)) chain.push(parent.spanId);
      return chain;
    };
    expect(ancestors(job)).toContain(request.spanId);
    // The signer's steps are the job span's children.
    for (const step of ['certificate.sign', 'certificate.store']) {
      expect(one((s) => s.name === step, step)).toMatchObject({ service: 'signet-signer', parentSpanId: job.spanId });
    }
    // Probes and scrapes make no spans; the exporter spoke OTLP/HTTP JSON.
    expect(receiver.spans.some((s) => /healthz|readyz|metrics/.test(s.name))).toBe(false);
    expect(receiver.requests.every((r) => r.path === '/v1/traces' && r.contentType.startsWith('application/json'))).toBe(true);
  });

  it('an enrollment on 8443 is one trace too: the enroll server request, its queue hop, the signer job', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signet-traced-'));
    const device = await call('POST', '/api/v1/certificates', { caId, commonName: 'traced-device', usage: 'client' });
    writeFileSync(join(dir, 'device.pem'), device.certificate.certificatePem);
    writeFileSync(join(dir, 'device.key'), device.privateKey);
    writeFileSync(join(dir, 'ca.pem'), (await call('GET', `/api/v1/cas/${caId}`)).ca.certificatePem);
    expect(spawnSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'op.key', '-out', 'op.csr', '-subj', '/CN=traced-device'], { cwd: dir }).status).toBe(0);
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const enrollOnce = () => spawnSync('curl', ['-sS', '--max-time', '15', '--cacert', 'ca.pem', '--cert', 'device.pem', '--key', 'device.key', '-H', 'Content-Type: application/pkcs10',
      '-H', `traceparent: 00-${traceId}-${callerSpanId}-01`, '--data-binary', '@op.csr', '-o', '/dev/null', '-w', '%{http_code}', `${enrollUrl}/v1/enroll`], { cwd: dir, encoding: 'utf8' }).stdout;
    let status = enrollOnce();
    // The trust store follows the policy within ENROLL_TRUST_POLL_MS.
    for (let i = 0; i < 50 && status !== '201'; i++) {
      await sleep(200);
      status = enrollOnce();
    }
    expect(status).toBe('201');

    const inTrace = (spans: ReceivedSpan[]) => spans.filter((s) => s.traceId === traceId);
    const spans = inTrace(await spansUntil((all) => inTrace(all).some((s) => s.service === 'signet-signer' && s.kind === KIND.consumer)));
    const request = spans.find((s) => s.service === 'signet-enroll' && s.kind === KIND.server && s.parentSpanId === callerSpanId);
    const producer = spans.find((s) => s.service === 'signet-enroll' && s.kind === KIND.producer);
    const job = spans.find((s) => s.service === 'signet-signer' && s.kind === KIND.consumer);
    expect({ request: !!request, producer: !!producer, job: !!job }).toEqual({ request: true, producer: true, job: true });
    expect(job!.parentSpanId).toBe(producer!.spanId);
  });
});
