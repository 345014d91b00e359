/**
 * The Cloudflare provider against a local stand-in of Cloudflare's API v4 (zones by name, DNS records
 * create, list and delete, the `{success, errors, result}` envelope), which checks the bearer token.
 */
import { dnsProvider } from './dns-provider';
import type { CloudflareConfig } from './dns-provider-config';
import { StandIn, StandInAnswer, StandInRequest, startStandIn } from './test/http-stand-in';
import { rejection } from './test/rejection';

const TOKEN = 'cf-token-Yq3mX9vT2kLp8sRz';
const ZONE_ID = '023e105f4ecef8ad9ca31a8372d0c353';

interface CfRecord {
  id: string;
  type: string;
  name: string;
  content: string;
  ttl: number;
}

const envelope = (result: unknown): StandInAnswer => ({ status: 200, body: { success: true, errors: [], messages: [], result } });
const failure = (status: number, code: number, message: string): StandInAnswer => ({ status, body: { success: false, errors: [{ code, message }], messages: [], result: null } });

describe('cloudflare provider (stand-in API)', () => {
  let api: StandIn;
  const records = new Map<string, CfRecord>();
  let nextId = 1;

  function handle(req: StandInRequest): StandInAnswer {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return failure(403, 9109, `Invalid access token (${req.headers.authorization ?? 'none'})`);
    if (req.method === 'GET' && req.path === '/client/v4/zones') {
      return envelope(req.query['name'] === 'example.com' ? [{ id: ZONE_ID, name: 'example.com', status: 'active' }] : []);
    }
    const base = `/client/v4/zones/${ZONE_ID}/dns_records`;
    if (req.method === 'POST' && req.path === base) {
      const body = req.json as Omit<CfRecord, 'id'>;
      if (!body.name.endsWith('example.com')) return failure(400, 1004, 'DNS Validation Error');
      if ([...records.values()].some((r) => r.type === body.type && r.name === body.name && r.content === body.content)) return failure(400, 81058, 'An identical record already exists.');
      const record = { id: `rec${nextId++}`, ...body };
      records.set(record.id, record);
      return envelope(record);
    }
    if (req.method === 'GET' && req.path === base) {
      return envelope([...records.values()].filter((r) => r.type === req.query['type'] && r.name === req.query['name']));
    }
    if (req.method === 'DELETE' && req.path.startsWith(`${base}/`)) {
      const id = req.path.slice(base.length + 1);
      return records.delete(id) ? envelope({ id }) : failure(404, 81044, 'Record does not exist.');
    }
    return failure(404, 7003, 'Could not route to this path');
  }

  beforeAll(async () => {
    api = await startStandIn(handle);
  });
  afterAll(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
    records.clear();
  });

  const config = (extra: Partial<CloudflareConfig> = {}): CloudflareConfig => ({ type: 'cloudflare', apiToken: TOKEN, baseUrl: api.url, ...extra });

  it('finds the zone walking up by name, creates the TXT record, and deletes only that value at cleanup', async () => {
    const provider = dnsProvider(config());
    await provider.present('_acme-challenge.www.example.com.', 'value-one');
    expect(api.lines()).toEqual([
      'GET /client/v4/zones?name=_acme-challenge.www.example.com',
      'GET /client/v4/zones?name=www.example.com',
      'GET /client/v4/zones?name=example.com',
      `POST /client/v4/zones/${ZONE_ID}/dns_records`,
    ]);
    expect(api.requests[3].json).toEqual({ type: 'TXT', name: '_acme-challenge.www.example.com', content: 'value-one', ttl: 120 });
    expect(api.requests[3].headers['content-type']).toBe('application/json');

    await provider.present('_acme-challenge.www.example.com', 'value-two');
    await provider.present('_acme-challenge.www.example.com', 'value-two'); // identical: done already
    expect([...records.values()].map((r) => r.content)).toEqual(['value-one', 'value-two']);

    api.requests.length = 0;
    await provider.cleanup('_acme-challenge.www.example.com', 'value-one');
    expect(api.lines().slice(3)).toEqual([
      `GET /client/v4/zones/${ZONE_ID}/dns_records?type=TXT&name=_acme-challenge.www.example.com&per_page=100`,
      `DELETE /client/v4/zones/${ZONE_ID}/dns_records/rec1`,
    ]);
    expect([...records.values()].map((r) => r.content)).toEqual(['value-two']);
  });

  it("says when no zone holds the name, and carries the API's own error text", async () => {
    await expect(dnsProvider(config()).present('_acme-challenge.example.org', 'v')).rejects.toThrow('cloudflare: no zone in this Cloudflare account holds _acme-challenge.example.org');
    const bad = dnsProvider(config({ apiToken: 'wrong-token-0123456789' }));
    const error = await rejection(bad.present('_acme-challenge.example.com', 'v'));
    expect(error.message).toBe('cloudflare: GET /client/v4/zones answered HTTP 403: [9109] Invalid access token (Bearer [redacted])');
    expect(error.message).not.toContain('wrong-token-0123456789');
  });

  it('gives up at the timeout on an API that does not answer', async () => {
    const silent = await startStandIn(() => new Promise<StandInAnswer>(() => undefined));
    try {
      const provider = dnsProvider(config({ baseUrl: silent.url }), { timeoutMs: 500 });
      await expect(provider.present('_acme-challenge.example.com', 'v')).rejects.toThrow('cloudflare: GET /client/v4/zones: no answer within 500 ms');
    } finally {
      await silent.close();
    }
  });
});
