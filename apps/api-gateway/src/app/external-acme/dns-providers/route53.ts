/**
 * Amazon Route 53's REST API, version 2013-04-01 (docs.aws.amazon.com/Route53/latest/APIReference),
 * signed with SigV4 (service `route53`, region `us-east-1` unless told):
 * - the zone (unless `hostedZoneId` is given): `GET /2013-04-01/hostedzonesbyname?dnsname=<candidate>&maxitems=10`
 *   walking up the name's labels, taking the public zone of exactly that name (a private zone is not what
 *   the CA sees);
 * - the values already at the name: `GET /2013-04-01/hostedzone/<id>/rrset?name=<fqdn.>&type=TXT&maxitems=1`;
 * - present: `POST /2013-04-01/hostedzone/<id>/rrset/` with a ChangeResourceRecordSetsRequest UPSERT of the
 *   TXT set with those values and the new one (an UPSERT replaces the whole set);
 * - cleanup: the same UPSERT without the value, or a DELETE of the set exactly as it stands when it was
 *   the last;
 * - then `GET /2013-04-01/change/<id>` until the change is INSYNC.
 * Errors carry the ErrorResponse's Code and Message (and InvalidChangeBatch's Messages).
 */
import { signAwsRequest } from './aws-sigv4';
import type { DnsProvider } from './dns-provider';
import type { Route53Config } from './dns-provider-config';
import { absolute, canonicalName, nextTxtValues, quotedTxt } from './dns-names';
import { ApiCall, apiUrl } from './http-api';

const DEFAULT_BASE_URL = 'https://route53.amazonaws.com';
const DEFAULT_REGION = 'us-east-1';
const API_VERSION = '2013-04-01';
const XMLNS = `https://route53.amazonaws.com/doc/${API_VERSION}/`;
const TTL = 60;

const escapeXml = (text: string): string =>
  text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
const unescapeXml = (text: string): string =>
  text.replace(/&(lt|gt|amp|apos|quot);/g, (_, name: string) => ({ lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' })[name] as string);

/** The text of every `<tag>` element in `xml` (flat: the providers read only leaf elements and blocks). */
function elements(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]);
}
const element = (xml: string, tag: string): string | undefined => {
  const found = elements(xml, tag)[0];
  return found === undefined ? undefined : unescapeXml(found.trim());
};

/** `SignatureDoesNotMatch: The request signature ...`, `InvalidChangeBatch: Tried to delete resource record set ...`. */
function route53Error(text: string): string {
  const code = element(text, 'Code');
  const messages = elements(text, 'Message').map((m) => unescapeXml(m.trim()));
  if (!code && messages.length === 0) return text;
  const root = /<([A-Za-z]+)[\s>]/.exec(text.replace(/<\?xml[^>]*>/, ''))?.[1];
  return `${code ?? root ?? 'Error'}: ${messages.join('; ')}`;
}

interface TxtSet {
  ttl: number;
  /** As Route 53 keeps them: quoted character strings, `"value"`. */
  values: string[];
}

function changeBatch(action: 'UPSERT' | 'DELETE', fqdn: string, set: TxtSet): string {
  const records = set.values.map((v) => `<ResourceRecord><Value>${escapeXml(v)}</Value></ResourceRecord>`).join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<ChangeResourceRecordSetsRequest xmlns="${XMLNS}"><ChangeBatch>` +
    `<Comment>Signet ACME DNS-01</Comment><Changes><Change><Action>${action}</Action><ResourceRecordSet>` +
    `<Name>${escapeXml(absolute(fqdn))}</Name><Type>TXT</Type><TTL>${set.ttl}</TTL><ResourceRecords>${records}</ResourceRecords>` +
    `</ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`
  );
}

export function route53Provider(config: Route53Config, timeoutMs: number): DnsProvider {
  const base = config.baseUrl ?? DEFAULT_BASE_URL;
  const credentials = { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey };
  const scope = { region: config.region ?? DEFAULT_REGION, service: 'route53' };
  const begin = (): ApiCall => new ApiCall('route53', [config.secretAccessKey, config.accessKeyId], timeoutMs);

  async function send(call: ApiCall, method: 'GET' | 'POST', url: URL, body = ''): Promise<string> {
    const signed = signAwsRequest({ method, url, headers: body ? { 'content-type': 'application/xml' } : {}, body }, credentials, scope);
    delete signed['host']; // fetch sends the URL's host, which is what was signed
    const res = await call.request(method, url, { headers: signed, body: body || undefined });
    if (res.status !== 200) throw call.refused(`${method} ${url.pathname}`, res.status, route53Error(res.text));
    return res.text;
  }

  async function hostedZoneId(call: ApiCall, fqdn: string): Promise<string> {
    const id =
      config.hostedZoneId ??
      (await call.findZone(fqdn, 'public hosted zone in this AWS account', async (candidate) => {
        const xml = await send(call, 'GET', apiUrl(base, `/${API_VERSION}/hostedzonesbyname`, { dnsname: candidate, maxitems: '10' }));
        const zone = elements(xml, 'HostedZone').find((z) => canonicalName(element(z, 'Name') ?? '') === candidate && element(z, 'PrivateZone') !== 'true');
        return zone === undefined ? undefined : element(zone, 'Id');
      }));
    return id.replace(/^\/?hostedzone\//, '');
  }

  async function txtSet(call: ApiCall, zoneId: string, fqdn: string): Promise<TxtSet | null> {
    const url = apiUrl(base, `/${API_VERSION}/hostedzone/${encodeURIComponent(zoneId)}/rrset`, { name: absolute(fqdn), type: 'TXT', maxitems: '1' });
    const xml = await send(call, 'GET', url);
    for (const set of elements(xml, 'ResourceRecordSet')) {
      if (canonicalName(element(set, 'Name') ?? '') !== canonicalName(fqdn) || element(set, 'Type') !== 'TXT') continue;
      return { ttl: Number(element(set, 'TTL') ?? TTL), values: elements(set, 'Value').map((v) => unescapeXml(v.trim())) };
    }
    return null;
  }

  async function change(call: ApiCall, zoneId: string, batch: string): Promise<void> {
    const xml = await send(call, 'POST', apiUrl(base, `/${API_VERSION}/hostedzone/${encodeURIComponent(zoneId)}/rrset/`), batch);
    const info = (answer: string): string => elements(answer, 'ChangeInfo')[0] ?? '';
    const status = (answer: string): string | undefined => element(info(answer), 'Status');
    if (status(xml) === 'INSYNC') return;
    const id = (element(info(xml), 'Id') ?? '').replace(/^\/?change\//, '');
    if (!id) throw call.error(`ChangeResourceRecordSets answered without a change id: ${xml}`);
    const url = apiUrl(base, `/${API_VERSION}/change/${encodeURIComponent(id)}`);
    await call.waitUntil(`change ${id} to become INSYNC`, async () => status(await send(call, 'GET', url)) === 'INSYNC');
  }

  async function apply(op: 'present' | 'cleanup', fqdn: string, value: string): Promise<void> {
    const call = begin();
    const zoneId = await hostedZoneId(call, fqdn);
    const current = await txtSet(call, zoneId, fqdn);
    const values = nextTxtValues(op, current?.values ?? [], quotedTxt(value));
    if (!values) return;
    // An UPSERT replaces the whole set; a DELETE must name the set exactly as it stands.
    const batch = values.length > 0 || !current ? changeBatch('UPSERT', fqdn, { ttl: current?.ttl ?? TTL, values }) : changeBatch('DELETE', fqdn, current);
    await change(call, zoneId, batch);
  }

  return {
    present: (fqdn, value) => apply('present', fqdn, value),
    cleanup: (fqdn, value) => apply('cleanup', fqdn, value),
  };
}
