/**
 * The Route 53 provider against a local stand-in of Route 53's REST API 2013-04-01 (ListHostedZonesByName,
 * ListResourceRecordSets, ChangeResourceRecordSets, GetChange; XML both ways), which verifies every
 * request's SigV4 signature by recomputing it from what it received with the same secret; and the signer
 * against AWS's published get-vanilla test vector.
 */
import { createHash, createHmac } from 'node:crypto';
import { signAwsRequest } from './aws-sigv4';
import { dnsProvider } from './dns-provider';
import type { Route53Config } from './dns-provider-config';
import { StandIn, StandInAnswer, StandInRequest, startStandIn } from './test/http-stand-in';
import { rejection } from './test/rejection';

const ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const XMLNS = 'https://route53.amazonaws.com/doc/2013-04-01/';

describe('AWS SigV4', () => {
  it("matches AWS's published get-vanilla test vector", () => {
    const headers = signAwsRequest(
      { method: 'GET', url: new URL('https://example.amazonaws.com/'), headers: {}, body: '' },
      { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET },
      { region: 'us-east-1', service: 'service' },
      new Date('2015-08-30T12:36:00Z'),
    );
    expect(headers['x-amz-date']).toBe('20150830T123600Z');
    expect(headers['authorization']).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });
});

/** The stand-in's own check of a request's signature, from the request as received: null when it holds. */
function signatureProblem(req: StandInRequest): string | null {
  const auth = /^AWS4-HMAC-SHA256 Credential=(\w+)\/(\d{8})\/([a-z0-9-]+)\/route53\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
    req.headers.authorization ?? '',
  );
  if (!auth) return 'IncompleteSignature';
  const [, keyId, date, region, signedHeaders, signature] = auth;
  if (keyId !== ACCESS_KEY_ID) return 'InvalidClientTokenId';
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const signedAt = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  if (!amzDate.startsWith(date) || !(Math.abs(Date.now() - signedAt) < 300_000)) return 'RequestExpired';
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date') || (req.body && !names.includes('content-type'))) return 'IncompleteSignature';
  const strict = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  const query = req.search
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => pair.split('=').map((part) => strict(decodeURIComponent(part.replace(/\+/g, ' ')))))
    .map(([key, value = '']) => `${key}=${value}`)
    .sort()
    .join('&');
  const canonical = [
    req.method,
    req.path.split('/').map(strict).join('/'),
    query,
    names.map((name) => `${name}:${String(req.headers[name]).trim()}\n`).join(''),
    signedHeaders,
    createHash('sha256').update(req.body).digest('hex'),
  ].join('\n');
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${date}/${region}/route53/aws4_request\n${createHash('sha256').update(canonical).digest('hex')}`;
  let key: Buffer = createHmac('sha256', `AWS4${SECRET}`).update(date).digest();
  for (const part of [region, 'route53', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(toSign).digest('hex') === signature ? null : 'SignatureDoesNotMatch';
}

interface RecordSet {
  name: string;
  type: string;
  ttl: number;
  values: string[];
}

const xml = (body: string): StandInAnswer => ({ status: 200, contentType: 'text/xml', body: `<?xml version="1.0"?>\n${body}` });
const awsError = (status: number, code: string, message: string): StandInAnswer => ({
  status,
  contentType: 'text/xml',
  body: `<?xml version="1.0"?>\n<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>4f0b5a1e</RequestId></ErrorResponse>`,
});
/** Route 53 orders names by their labels from the right. */
const order = (name: string): string => name.replace(/\.$/, '').split('.').reverse().join('.');
const tags = (text: string, tag: string): string[] => [...text.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]);

describe('route53 provider (stand-in API)', () => {
  let api: StandIn;
  const zones = [
    { id: '/hostedzone/ZPRIVATE0000001', name: 'example.com.', private: true },
    { id: '/hostedzone/Z1D633PJN98FT9', name: 'example.com.', private: false },
    { id: '/hostedzone/Z3OTHERZONE0001', name: 'zzz.example.com.', private: false },
    { id: '/hostedzone/Z3OTHERZONE0002', name: 'example.net.', private: false },
  ];
  let sets: RecordSet[] = [];
  const changes = new Map<string, number>();
  let changeCount = 0;
  /** When set, the TTL that listings report (a set that changed since it was read). */
  let listedTtl: number | undefined;

  function handle(req: StandInRequest): StandInAnswer {
    const problem = signatureProblem(req);
    if (problem) return awsError(403, problem, 'The request signature we calculated does not match the signature you provided.');
    if (req.method === 'GET' && req.path === '/2013-04-01/hostedzonesbyname') {
      const from = order(req.query['dnsname'] ?? '');
      const listed = [...zones]
        .sort((a, b) => order(a.name).localeCompare(order(b.name)))
        .filter((z) => order(z.name) >= from)
        .slice(0, Number(req.query['maxitems'] ?? 100));
      const items = listed.map((z) => `<HostedZone><Id>${z.id}</Id><Name>${z.name}</Name><CallerReference>ref</CallerReference><Config><PrivateZone>${z.private}</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>`);
      return xml(`<ListHostedZonesByNameResponse xmlns="${XMLNS}"><HostedZones>${items.join('')}</HostedZones><DNSName>${req.query['dnsname']}</DNSName><IsTruncated>false</IsTruncated><MaxItems>${req.query['maxitems']}</MaxItems></ListHostedZonesByNameResponse>`);
    }
    const zonePath = /^\/2013-04-01\/hostedzone\/(Z1D633PJN98FT9)\/rrset(\/?)$/.exec(req.path);
    if (req.method === 'GET' && zonePath && !zonePath[2]) {
      const from = `${order(req.query['name'] ?? '')} ${req.query['type'] ?? ''}`;
      const listed = [...sets].sort((a, b) => `${order(a.name)} ${a.type}`.localeCompare(`${order(b.name)} ${b.type}`)).filter((s) => `${order(s.name)} ${s.type}` >= from);
      const items = listed.slice(0, Number(req.query['maxitems'] ?? 100)).map(
        (s) => `<ResourceRecordSet><Name>${s.name}</Name><Type>${s.type}</Type><TTL>${listedTtl ?? s.ttl}</TTL><ResourceRecords>${s.values.map((v) => `<ResourceRecord><Value>${v.replace(/"/g, '&quot;')}</Value></ResourceRecord>`).join('')}</ResourceRecords></ResourceRecordSet>`,
      );
      return xml(`<ListResourceRecordSetsResponse xmlns="${XMLNS}"><ResourceRecordSets>${items.join('')}</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>`);
    }
    if (req.method === 'POST' && zonePath && zonePath[2] === '/') {
      if (!req.body.includes(`<ChangeResourceRecordSetsRequest xmlns="${XMLNS}">`)) return awsError(400, 'InvalidInput', 'not a ChangeResourceRecordSetsRequest');
      for (const change of tags(req.body, 'Change')) {
        const set: RecordSet = {
          name: tags(change, 'Name')[0],
          type: tags(change, 'Type')[0],
          ttl: Number(tags(change, 'TTL')[0]),
          values: tags(change, 'Value').map((v) => v.replace(/&quot;/g, '"')),
        };
        const at = sets.findIndex((s) => s.name === set.name && s.type === set.type);
        if (tags(change, 'Action')[0] === 'UPSERT') {
          if (at >= 0) sets[at] = set;
          else sets.push(set);
        } else if (at < 0 || JSON.stringify(sets[at]) !== JSON.stringify(set)) {
          return {
            status: 400,
            contentType: 'text/xml',
            body: `<?xml version="1.0"?>\n<InvalidChangeBatch xmlns="${XMLNS}"><Messages><Message>Tried to delete resource record set [name='${set.name}', type='${set.type}'] but the values provided do not match the current values</Message></Messages><RequestId>b25f48e8</RequestId></InvalidChangeBatch>`,
          };
        } else sets.splice(at, 1);
      }
      const id = `C2682N5HXP0BZ${++changeCount}`;
      changes.set(id, 0);
      return xml(`<ChangeResourceRecordSetsResponse xmlns="${XMLNS}"><ChangeInfo><Id>/change/${id}</Id><Status>PENDING</Status><SubmittedAt>2026-11-29T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>`);
    }
    const changePath = /^\/2013-04-01\/change\/(\w+)$/.exec(req.path);
    if (req.method === 'GET' && changePath && changes.has(changePath[1])) {
      // The first change is PENDING at its first poll too (the provider waits on); later ones are INSYNC at once.
      const polls = (changes.get(changePath[1]) ?? 0) + 1;
      changes.set(changePath[1], polls);
      const insync = polls >= 2 || changePath[1] !== 'C2682N5HXP0BZ1';
      return xml(`<GetChangeResponse xmlns="${XMLNS}"><ChangeInfo><Id>/change/${changePath[1]}</Id><Status>${insync ? 'INSYNC' : 'PENDING'}</Status><SubmittedAt>2026-11-29T00:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>`);
    }
    return awsError(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${req.path}`);
  }

  beforeAll(async () => {
    api = await startStandIn(handle);
  });
  afterAll(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
    sets = [{ name: 'zzz.example.com.', type: 'A', ttl: 300, values: ['192.0.2.1'] }];
    changes.clear();
    listedTtl = undefined;
  });

  const config = (extra: Partial<Route53Config> = {}): Route53Config => ({ type: 'route53', accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET, baseUrl: api.url, ...extra });
  const txtSet = (): RecordSet | undefined => sets.find((s) => s.type === 'TXT');

  it('finds the public zone by name, UPSERTs the TXT set with every value, waits for INSYNC, and DELETEs the set with its last value', async () => {
    const provider = dnsProvider(config(), { timeoutMs: 20_000 });
    await provider.present('_acme-challenge.www.example.com', 'value-one');
    expect(api.lines()).toEqual([
      'GET /2013-04-01/hostedzonesbyname?dnsname=_acme-challenge.www.example.com&maxitems=10',
      'GET /2013-04-01/hostedzonesbyname?dnsname=www.example.com&maxitems=10',
      'GET /2013-04-01/hostedzonesbyname?dnsname=example.com&maxitems=10',
      'GET /2013-04-01/hostedzone/Z1D633PJN98FT9/rrset?name=_acme-challenge.www.example.com.&type=TXT&maxitems=1',
      'POST /2013-04-01/hostedzone/Z1D633PJN98FT9/rrset/',
      'GET /2013-04-01/change/C2682N5HXP0BZ1',
      'GET /2013-04-01/change/C2682N5HXP0BZ1',
    ]);
    const post = api.requests[4];
    expect(post.headers['content-type']).toBe('application/xml');
    expect(post.body).toBe(
      `<?xml version="1.0" encoding="UTF-8"?>\n<ChangeResourceRecordSetsRequest xmlns="${XMLNS}"><ChangeBatch><Comment>Signet ACME DNS-01</Comment><Changes><Change>` +
        '<Action>UPSERT</Action><ResourceRecordSet><Name>_acme-challenge.www.example.com.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords>' +
        '<ResourceRecord><Value>&quot;value-one&quot;</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>' +
        '</ChangeResourceRecordSetsRequest>',
    );
    expect(txtSet()).toEqual({ name: '_acme-challenge.www.example.com.', type: 'TXT', ttl: 60, values: ['"value-one"'] });

    await provider.present('_acme-challenge.www.example.com', 'value-two');
    expect(txtSet()?.values).toEqual(['"value-one"', '"value-two"']);
    await provider.cleanup('_acme-challenge.www.example.com', 'value-one');
    expect(txtSet()?.values).toEqual(['"value-two"']);
    api.requests.length = 0;
    await provider.cleanup('_acme-challenge.www.example.com', 'value-two');
    expect(tags(api.requests.find((r) => r.method === 'POST')?.body ?? '', 'Action')).toEqual(['DELETE']);
    expect(txtSet()).toBeUndefined();
  });

  it('uses a given hosted zone id without looking it up, and signs for the given region', async () => {
    const provider = dnsProvider(config({ hostedZoneId: '/hostedzone/Z1D633PJN98FT9', region: 'eu-west-1' }), { timeoutMs: 20_000 });
    await provider.present('_acme-challenge.example.com', 'v');
    expect(api.lines()[0]).toBe('GET /2013-04-01/hostedzone/Z1D633PJN98FT9/rrset?name=_acme-challenge.example.com.&type=TXT&maxitems=1');
    expect(api.requests[0].headers.authorization).toContain('/eu-west-1/route53/aws4_request');
  });

  it("carries AWS's own error code and message, never the secret", async () => {
    const wrong = dnsProvider(config({ secretAccessKey: 'not-the-secret-at-all' }));
    const error = await rejection(wrong.present('_acme-challenge.example.com', 'v'));
    expect(error.message).toBe(
      'route53: GET /2013-04-01/hostedzonesbyname answered HTTP 403: SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided.',
    );
    await expect(dnsProvider(config()).present('_acme-challenge.example.org', 'v')).rejects.toThrow('route53: no public hosted zone in this AWS account holds _acme-challenge.example.org');
    // A DELETE that does not match the set as it stands: Route 53's InvalidChangeBatch message comes back.
    sets.push({ name: '_acme-challenge.example.com.', type: 'TXT', ttl: 60, values: ['"v"'] });
    listedTtl = 61;
    await expect(dnsProvider(config({ hostedZoneId: 'Z1D633PJN98FT9' })).cleanup('_acme-challenge.example.com', 'v')).rejects.toThrow(
      "route53: POST /2013-04-01/hostedzone/Z1D633PJN98FT9/rrset/ answered HTTP 400: InvalidChangeBatch: Tried to delete resource record set [name='_acme-challenge.example.com.', type='TXT'] but the values provided do not match the current values",
    );
  });
});
