/**
 * The GoDaddy provider against a local stand-in of GoDaddy's Domains API v1 (domain details, the TXT
 * records at a name read, replaced and deleted; `{code, message, fields}` errors), which checks the
 * `sso-key <key>:<secret>` header.
 */
import { dnsProvider } from './dns-provider';
import type { GoDaddyConfig } from './dns-provider-config';
import { StandIn, StandInAnswer, StandInRequest, startStandIn } from './test/http-stand-in';
import { rejection } from './test/rejection';

const KEY = 'dLP4f7uRkzMf_5Tc1mfhGvBn4rLyBiUmo';
const SECRET = 'Sd7JzyvR2xFyBm1Cx9qrkW';

describe('godaddy provider (stand-in API)', () => {
  let api: StandIn;
  /** TXT records by name relative to example.com. */
  const txt = new Map<string, Array<{ data: string; ttl: number }>>();

  function handle(req: StandInRequest): StandInAnswer {
    if (req.headers.authorization !== `sso-key ${KEY}:${SECRET}`) {
      return { status: 401, body: { code: 'UNABLE_TO_AUTHENTICATE', message: `Unable to authenticate with ${req.headers.authorization ?? 'nothing'}` } };
    }
    const match = /^\/v1\/domains\/([^/]+)(?:\/records\/TXT\/([^/]+))?$/.exec(req.path);
    if (!match || match[1] !== 'example.com') return { status: 404, body: { code: 'NOT_FOUND', message: `Domain ${match?.[1] ?? '?'} not found for shopper 12345` } };
    const name = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    if (req.method === 'GET' && name === undefined) return { status: 200, body: { domain: 'example.com', domainId: 1001, status: 'ACTIVE' } };
    if (name === undefined) return { status: 405, body: { code: 'METHOD_NOT_ALLOWED', message: 'no' } };
    if (req.method === 'GET') return { status: 200, body: (txt.get(name) ?? []).map((r) => ({ ...r, name, type: 'TXT' })) };
    if (req.method === 'PUT') {
      const body = req.json as Array<{ data: string; ttl: number }>;
      const short = body.findIndex((r) => r.ttl < 600);
      if (short >= 0) return { status: 422, body: { code: 'INVALID_BODY', message: "Request body doesn't fulfill schema", fields: [{ path: `records[${short}].ttl`, code: 'UNEXPECTED_TYPE', message: 'must be >= 600' }] } };
      txt.set(name, body);
      return { status: 200 };
    }
    if (req.method === 'DELETE') {
      if (!txt.delete(name)) return { status: 404, body: { code: 'NOT_FOUND', message: 'no records' } };
      return { status: 204 };
    }
    return { status: 405, body: { code: 'METHOD_NOT_ALLOWED', message: 'no' } };
  }

  beforeAll(async () => {
    api = await startStandIn(handle);
  });
  afterAll(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
    txt.clear();
  });

  const config = (extra: Partial<GoDaddyConfig> = {}): GoDaddyConfig => ({ type: 'godaddy', apiKey: KEY, apiSecret: SECRET, baseUrl: api.url, ...extra });

  it('keeps the values already at the name when it adds one (PUT replaces them all), and deletes the name with its last value', async () => {
    txt.set('_acme-challenge.www', [{ data: 'someone-elses', ttl: 3600 }]);
    const provider = dnsProvider(config());
    await provider.present('_acme-challenge.www.example.com.', 'value-one');
    expect(api.lines()).toEqual([
      'GET /v1/domains/_acme-challenge.www.example.com',
      'GET /v1/domains/www.example.com',
      'GET /v1/domains/example.com',
      'GET /v1/domains/example.com/records/TXT/_acme-challenge.www',
      'PUT /v1/domains/example.com/records/TXT/_acme-challenge.www',
    ]);
    expect(api.requests[4].json).toEqual([
      { data: 'someone-elses', ttl: 3600 },
      { data: 'value-one', ttl: 600 },
    ]);

    await provider.cleanup('_acme-challenge.www.example.com', 'value-one');
    expect(api.requests[api.requests.length - 1]).toMatchObject({ method: 'PUT', json: [{ data: 'someone-elses', ttl: 3600 }] });
    await provider.cleanup('_acme-challenge.www.example.com', 'someone-elses');
    expect(api.lines()[api.requests.length - 1]).toBe('DELETE /v1/domains/example.com/records/TXT/_acme-challenge.www');
    expect(txt.has('_acme-challenge.www')).toBe(false);
  });

  it('uses @ for the apex of the domain, and sends nothing when the value is there already or gone already', async () => {
    const provider = dnsProvider(config());
    await provider.present('example.com', 'apex-value');
    expect(api.lines()).toEqual(['GET /v1/domains/example.com', 'GET /v1/domains/example.com/records/TXT/%40', 'PUT /v1/domains/example.com/records/TXT/%40']);
    api.requests.length = 0;
    await provider.present('example.com', 'apex-value');
    await provider.cleanup('example.com', 'never-there');
    expect(api.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it("carries the API's own error text, never the key or secret", async () => {
    const error = await rejection(dnsProvider(config({ apiSecret: 'wrong-secret-value' })).present('_acme-challenge.example.com', 'v'));
    expect(error.message).toBe(`godaddy: GET /v1/domains/_acme-challenge.example.com answered HTTP 401: UNABLE_TO_AUTHENTICATE: Unable to authenticate with sso-key [redacted]:[redacted]`);
    await expect(dnsProvider(config()).present('_acme-challenge.example.net', 'v')).rejects.toThrow('godaddy: no domain in this GoDaddy account holds _acme-challenge.example.net');
  });
});
