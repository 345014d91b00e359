/**
 * The Google Cloud DNS provider against local stand-ins of Google's OAuth 2.0 token endpoint (which
 * verifies the JWT bearer assertion's RS256 signature with the service account's public key and its
 * claims) and of Cloud DNS v1 (managedZones list by dnsName, rrsets list, changes create and get; the
 * `{error: {code, message, status}}` envelope), which accepts only the tokens it issued.
 */
import { createPublicKey, generateKeyPairSync, KeyObject, randomBytes, verify } from 'node:crypto';
import { dnsProvider } from './dns-provider';
import type { GcloudConfig } from './dns-provider-config';
import { StandIn, StandInAnswer, StandInRequest, startStandIn } from './test/http-stand-in';
import { rejection } from './test/rejection';

const PROJECT = 'signet-dns-test';
const CLIENT_EMAIL = `dns01@${PROJECT}.iam.gserviceaccount.com`;
const KEY_ID = '2f1e8d0c6b5a49382716a5f4e3d2c1b0a9f8e7d6';
const ZONES = `/dns/v1/projects/${PROJECT}/managedZones`;

interface RRSet {
  name: string;
  type: string;
  ttl: number;
  rrdatas: string[];
}

const googleError = (code: number, status: string, message: string): StandInAnswer => ({ status: code, body: { error: { code, message, status, errors: [{ message, reason: status }] } } });

describe('gcloud provider (stand-in API)', () => {
  let api: StandIn;
  let publicKey: KeyObject;
  let serviceAccountJson: string;
  let privateKeyPem: string;
  const issued = new Set<string>();
  let sets: RRSet[] = [];
  let tokenProblem: string | null = null;

  function token(req: StandInRequest): StandInAnswer {
    const form = new URLSearchParams(req.body);
    const fail = (description: string): StandInAnswer => {
      tokenProblem = description;
      return { status: 400, body: { error: 'invalid_grant', error_description: description } };
    };
    if (req.headers['content-type'] !== 'application/x-www-form-urlencoded') return fail('not a form');
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return fail('wrong grant_type');
    const [header, claims, signature] = (form.get('assertion') ?? '').split('.');
    const json = (part: string): Record<string, unknown> => JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'));
    if (!verify('RSA-SHA256', Buffer.from(`${header}.${claims}`), publicKey, Buffer.from(signature ?? '', 'base64url'))) return fail('Invalid JWT Signature.');
    const h = json(header);
    const c = json(claims);
    if (h['alg'] !== 'RS256' || h['typ'] !== 'JWT' || h['kid'] !== KEY_ID) return fail(`bad header ${JSON.stringify(h)}`);
    if (c['iss'] !== CLIENT_EMAIL || c['aud'] !== `${api.url}/token` || c['scope'] !== 'https://www.googleapis.com/auth/ndev.clouddns.readwrite') return fail(`bad claims ${JSON.stringify(c)}`);
    const now = Date.now() / 1000;
    if (Math.abs(Number(c['iat']) - now) > 60 || Number(c['exp']) - Number(c['iat']) !== 3600) return fail('bad times');
    const accessToken = `ya29.${randomBytes(24).toString('base64url')}`;
    issued.add(accessToken);
    return { status: 200, body: { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' } };
  }

  function handle(req: StandInRequest): StandInAnswer {
    if (req.method === 'POST' && req.path === '/token') return token(req);
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer || !issued.has(bearer)) return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    if (req.path.startsWith('/dns/v1/projects/echo-project/')) return googleError(403, 'PERMISSION_DENIED', `Forbidden for ${req.headers.authorization}`);
    if (req.method === 'GET' && req.path === ZONES) {
      const zones = [
        { name: 'example-com-internal', dnsName: 'example.com.', visibility: 'private' },
        { name: 'example-com', dnsName: 'example.com.', visibility: 'public' },
      ];
      return { status: 200, body: { kind: 'dns#managedZonesListResponse', managedZones: zones.filter((z) => z.dnsName === req.query['dnsName']) } };
    }
    if (req.method === 'GET' && req.path === `${ZONES}/example-com/rrsets`) {
      return { status: 200, body: { kind: 'dns#resourceRecordSetsListResponse', rrsets: sets.filter((s) => s.name === req.query['name'] && s.type === req.query['type']) } };
    }
    if (req.method === 'POST' && req.path === `${ZONES}/example-com/changes`) {
      const change = req.json as { additions: RRSet[]; deletions: RRSet[] };
      for (const deletion of change.deletions) {
        const at = sets.findIndex((s) => JSON.stringify(s) === JSON.stringify(deletion));
        if (at < 0) return googleError(412, 'FAILED_PRECONDITION', "Precondition not met for 'entity.change.deletions[0]'");
        sets.splice(at, 1);
      }
      for (const addition of change.additions) {
        if (sets.some((s) => s.name === addition.name && s.type === addition.type)) {
          return googleError(409, 'ALREADY_EXISTS', `The resource 'entity.change.additions[0]' named '${addition.name} (${addition.type})' already exists`);
        }
        sets.push(addition);
      }
      return { status: 200, body: { kind: 'dns#change', id: '7', status: 'pending', ...change } };
    }
    if (req.method === 'GET' && req.path === `${ZONES}/example-com/changes/7`) return { status: 200, body: { kind: 'dns#change', id: '7', status: 'done' } };
    return googleError(404, 'NOT_FOUND', `The requested URL ${req.path} was not found`);
  }

  beforeAll(async () => {
    api = await startStandIn(handle);
    privateKeyPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    // What Google keeps of a service account key: its public half.
    publicKey = createPublicKey(privateKeyPem);
    serviceAccountJson = JSON.stringify({
      type: 'service_account',
      project_id: PROJECT,
      private_key_id: KEY_ID,
      private_key: privateKeyPem,
      client_email: CLIENT_EMAIL,
      client_id: '103958712340987654321',
      token_uri: `${api.url}/token`,
    });
  });
  afterAll(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
    sets = [];
    tokenProblem = null;
  });

  const config = (extra: Partial<GcloudConfig> = {}): GcloudConfig => ({ type: 'gcloud', project: PROJECT, serviceAccountJson, baseUrl: api.url, tokenUrl: `${api.url}/token`, ...extra });

  it('gets a token with a signed JWT once, finds the public zone, and adds and removes values with changes that replace the set', async () => {
    const provider = dnsProvider(config(), { timeoutMs: 20_000 });
    await provider.present('_acme-challenge.www.example.com', 'value-one');
    expect(tokenProblem).toBeNull();
    expect(api.lines()).toEqual([
      'POST /token',
      `GET ${ZONES}?dnsName=_acme-challenge.www.example.com.`,
      `GET ${ZONES}?dnsName=www.example.com.`,
      `GET ${ZONES}?dnsName=example.com.`,
      `GET ${ZONES}/example-com/rrsets?name=_acme-challenge.www.example.com.&type=TXT`,
      `POST ${ZONES}/example-com/changes`,
      `GET ${ZONES}/example-com/changes/7`,
    ]);
    expect(api.requests[5].json).toEqual({ additions: [{ name: '_acme-challenge.www.example.com.', type: 'TXT', ttl: 60, rrdatas: ['"value-one"'] }], deletions: [] });

    await provider.present('_acme-challenge.www.example.com', 'value-two');
    expect(sets).toEqual([{ name: '_acme-challenge.www.example.com.', type: 'TXT', ttl: 60, rrdatas: ['"value-one"', '"value-two"'] }]);
    await provider.cleanup('_acme-challenge.www.example.com.', 'value-one');
    expect(sets).toEqual([{ name: '_acme-challenge.www.example.com.', type: 'TXT', ttl: 60, rrdatas: ['"value-two"'] }]);
    await provider.cleanup('_acme-challenge.www.example.com.', 'value-two');
    expect(api.requests[api.requests.length - 2].json).toEqual({ additions: [], deletions: [{ name: '_acme-challenge.www.example.com.', type: 'TXT', ttl: 60, rrdatas: ['"value-two"'] }] });
    expect(sets).toEqual([]);
    expect(api.lines().filter((line) => line === 'POST /token')).toHaveLength(1);
  });

  it('never follows the key file\'s token_uri (user text: SSRF), and says what the token endpoint refused without the assertion', async () => {
    const elsewhere = await startStandIn((req) => (req.path === '/oauth/token' ? { status: 400, body: { error: 'invalid_grant', error_description: `Invalid JWT: ${req.body}` } } : { status: 404 }));
    try {
      const pointing = JSON.stringify({ ...JSON.parse(serviceAccountJson), token_uri: `${api.url}/token` });
      const provider = dnsProvider(config({ serviceAccountJson: pointing, tokenUrl: `${elsewhere.url}/oauth/token` }));
      const error = await rejection(provider.present('_acme-challenge.example.com', 'v'));
      expect(error.message).toMatch(/^gcloud: POST \/oauth\/token \(token\) answered HTTP 400: invalid_grant: Invalid JWT: grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=\[redacted\]$/);
      expect(api.requests).toEqual([]);
    } finally {
      await elsewhere.close();
    }
  });

  it('sends the set as it stood as the deletion when other values are there', async () => {
    sets = [{ name: '_acme-challenge.example.com.', type: 'TXT', ttl: 300, rrdatas: ['"other"'] }];
    await dnsProvider(config()).present('_acme-challenge.example.com', 'v');
    expect(api.requests.find((r) => r.method === 'POST' && r.path.endsWith('/changes'))?.json).toEqual({
      additions: [{ name: '_acme-challenge.example.com.', type: 'TXT', ttl: 300, rrdatas: ['"other"', '"v"'] }],
      deletions: [{ name: '_acme-challenge.example.com.', type: 'TXT', ttl: 300, rrdatas: ['"other"'] }],
    });
  });

  it("carries the API's own error, never a credential nor the token obtained with one", async () => {
    await expect(dnsProvider(config({ project: 'another-project' })).present('_acme-challenge.example.com', 'v')).rejects.toThrow(
      'gcloud: GET /dns/v1/projects/another-project/managedZones answered HTTP 404: NOT_FOUND: The requested URL /dns/v1/projects/another-project/managedZones was not found',
    );
    const error = await rejection(dnsProvider(config({ project: 'echo-project' })).present('_acme-challenge.example.com', 'v'));
    expect(error.message).toBe('gcloud: GET /dns/v1/projects/echo-project/managedZones answered HTTP 403: PERMISSION_DENIED: Forbidden for Bearer [redacted]');
    for (const token of issued) expect(error.message).not.toContain(token);
    await expect(dnsProvider(config()).present('_acme-challenge.example.org', 'v')).rejects.toThrow(`gcloud: no public managed zone in project ${PROJECT} holds _acme-challenge.example.org`);
  });
});
