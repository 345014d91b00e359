/**
 * The DigitalOcean provider against a local stand-in of DigitalOcean's API v2 (domains, domain records
 * create, list with type and name filters, delete; `{id, message}` errors), which checks the bearer token.
 */
import { dnsProvider } from './dns-provider';
import type { DigitalOceanConfig } from './dns-provider-config';
import { StandIn, StandInAnswer, StandInRequest, startStandIn } from './test/http-stand-in';
import { rejection } from './test/rejection';

const TOKEN = 'dop_v1_4f1c0ffee0ddba11';

interface DoRecord {
  id: number;
  type: string;
  name: string;
  data: string;
  ttl: number;
}

const notFound: StandInAnswer = { status: 404, body: { id: 'not_found', message: 'The resource you were accessing could not be found.' } };

describe('digitalocean provider (stand-in API)', () => {
  let api: StandIn;
  const records: DoRecord[] = [];
  let nextId = 3_352_896;

  function handle(req: StandInRequest): StandInAnswer {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return { status: 401, body: { id: 'Unauthorized', message: 'Unable to authenticate you' } };
    const match = /^\/v2\/domains\/([^/]+)(\/records(?:\/(\d+))?)?$/.exec(req.path);
    if (!match || match[1] !== 'example.com') return notFound;
    const [, , recordsPath, id] = match;
    if (req.method === 'GET' && !recordsPath) return { status: 200, body: { domain: { name: 'example.com', ttl: 1800, zone_file: '' } } };
    if (req.method === 'POST' && recordsPath && !id) {
      const body = req.json as Omit<DoRecord, 'id'>;
      if (body.ttl < 30) return { status: 422, body: { id: 'unprocessable_entity', message: 'TTL must be at least 30 seconds' } };
      const record = { id: nextId++, ...body };
      records.push(record);
      return { status: 201, body: { domain_record: record } };
    }
    if (req.method === 'GET' && recordsPath && !id) {
      // The name filter takes the full name; records carry their name relative to the domain.
      const wanted = records.filter((r) => r.type === req.query['type'] && `${r.name}.example.com` === req.query['name']);
      return { status: 200, body: { domain_records: wanted, links: {}, meta: { total: wanted.length } } };
    }
    if (req.method === 'DELETE' && id) {
      const at = records.findIndex((r) => r.id === Number(id));
      if (at < 0) return notFound;
      records.splice(at, 1);
      return { status: 204 };
    }
    return notFound;
  }

  beforeAll(async () => {
    api = await startStandIn(handle);
  });
  afterAll(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
    records.length = 0;
  });

  const config = (extra: Partial<DigitalOceanConfig> = {}): DigitalOceanConfig => ({ type: 'digitalocean', apiToken: TOKEN, baseUrl: api.url, ...extra });

  it('finds the domain walking up, adds the record by its relative name, and deletes only that value at cleanup', async () => {
    const provider = dnsProvider(config());
    await provider.present('_acme-challenge.www.example.com.', 'value-one');
    await provider.present('_acme-challenge.www.example.com', 'value-two');
    expect(api.lines().slice(0, 4)).toEqual([
      'GET /v2/domains/_acme-challenge.www.example.com',
      'GET /v2/domains/www.example.com',
      'GET /v2/domains/example.com',
      'POST /v2/domains/example.com/records',
    ]);
    expect(api.requests[3].json).toEqual({ type: 'TXT', name: '_acme-challenge.www', data: 'value-one', ttl: 30 });

    api.requests.length = 0;
    await provider.cleanup('_acme-challenge.www.example.com', 'value-one');
    expect(api.lines().slice(3)).toEqual([
      'GET /v2/domains/example.com/records?type=TXT&name=_acme-challenge.www.example.com&per_page=200',
      'DELETE /v2/domains/example.com/records/3352896',
    ]);
    expect(records.map((r) => r.data)).toEqual(['value-two']);
  });

  it("says when no domain holds the name, and carries the API's own error text without the token", async () => {
    await expect(dnsProvider(config()).present('_acme-challenge.example.org', 'v')).rejects.toThrow('digitalocean: no domain in this DigitalOcean account holds _acme-challenge.example.org');
    const error = await rejection(dnsProvider(config({ apiToken: 'dop_v1_wrong' })).present('_acme-challenge.example.com', 'v'));
    expect(error.message).toBe('digitalocean: GET /v2/domains/_acme-challenge.example.com answered HTTP 401: Unauthorized: Unable to authenticate you');
  });
});
