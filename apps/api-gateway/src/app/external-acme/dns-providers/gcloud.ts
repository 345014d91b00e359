/**
 * Google Cloud DNS API v1 (cloud.google.com/dns/docs/reference/rest/v1), with a service account's OAuth
 * 2.0 access token (google-service-account.ts):
 * - the zone: `GET /dns/v1/projects/<project>/managedZones?dnsName=<candidate.>` walking up the name's
 *   labels, taking a public zone of exactly that name;
 * - the values already at the name: `GET .../managedZones/<zone>/rrsets?name=<fqdn.>&type=TXT`;
 * - present: `POST .../managedZones/<zone>/changes` `{additions: [the TXT set with the new value],
 *   deletions: [the set as it stood, if any]}`;
 * - cleanup: the same change without the value (no additions when it was the last);
 * - then `GET .../managedZones/<zone>/changes/<id>` until its status is `done`.
 * Errors carry the API's `{error: {code, message}}`.
 */
import type { DnsProvider } from './dns-provider';
import type { GcloudConfig } from './dns-provider-config';
import { DnsProviderError } from './dns-provider-error';
import { absolute, canonicalName, nextTxtValues, quotedTxt } from './dns-names';
import { CLOUD_DNS_SCOPE, GOOGLE_TOKEN_URL, readServiceAccountKey, ServiceAccountKey, ServiceAccountTokens } from './google-service-account';
import { ApiCall, apiUrl, asArray, asString, field } from './http-api';

const DEFAULT_BASE_URL = 'https://dns.googleapis.com';
const TTL = 60;

/** `403 PERMISSION_DENIED: Forbidden`, from Google's error envelope. */
function googleError(body: unknown, text: string): string {
  const error = field(body, 'error');
  const message = asString(field(error, 'message'));
  if (!message) return text;
  const status = asString(field(error, 'status'));
  return status ? `${status}: ${message}` : message;
}

interface ResourceRecordSet {
  name: string;
  type: 'TXT';
  ttl: number;
  rrdatas: string[];
}

export function gcloudProvider(config: GcloudConfig, timeoutMs: number): DnsProvider {
  const base = config.baseUrl ?? DEFAULT_BASE_URL;
  let key: ServiceAccountKey;
  try {
    key = readServiceAccountKey(config.serviceAccountJson);
  } catch (error) {
    throw new DnsProviderError('gcloud', `serviceAccountJson ${(error as Error).message}`);
  }
  const tokens = new ServiceAccountTokens(key, config.tokenUrl ?? GOOGLE_TOKEN_URL, CLOUD_DNS_SCOPE);
  const project = `/dns/v1/projects/${encodeURIComponent(config.project)}`;
  const begin = (): ApiCall => new ApiCall('gcloud', [config.serviceAccountJson, key.privateKeyPem], timeoutMs);

  async function api(call: ApiCall, method: string, url: URL, body?: unknown): Promise<unknown> {
    const headers = { authorization: `Bearer ${await tokens.accessToken(call)}` };
    return (await call.json(method, url, { headers, body, detail: googleError })).body;
  }

  const managedZone = (call: ApiCall, fqdn: string): Promise<string> =>
    call.findZone(fqdn, `public managed zone in project ${config.project}`, async (candidate) => {
      const body = await api(call, 'GET', apiUrl(base, `${project}/managedZones`, { dnsName: absolute(candidate) }));
      const zone = asArray(field(body, 'managedZones')).find(
        (z) => canonicalName(asString(field(z, 'dnsName')) ?? '') === candidate && (asString(field(z, 'visibility')) ?? 'public') === 'public',
      );
      return asString(field(zone, 'name'));
    });

  async function txtSet(call: ApiCall, zone: string, fqdn: string): Promise<ResourceRecordSet | null> {
    const body = await api(call, 'GET', apiUrl(base, `${project}/managedZones/${encodeURIComponent(zone)}/rrsets`, { name: absolute(fqdn), type: 'TXT' }));
    const set = asArray(field(body, 'rrsets')).find((s) => canonicalName(asString(field(s, 'name')) ?? '') === canonicalName(fqdn) && field(s, 'type') === 'TXT');
    if (!set) return null;
    const rrdatas = asArray(field(set, 'rrdatas')).filter((d): d is string => typeof d === 'string');
    return { name: absolute(fqdn), type: 'TXT', ttl: Number(field(set, 'ttl')) || TTL, rrdatas };
  }

  async function change(call: ApiCall, zone: string, additions: ResourceRecordSet[], deletions: ResourceRecordSet[]): Promise<void> {
    const changes = `${project}/managedZones/${encodeURIComponent(zone)}/changes`;
    const answer = await api(call, 'POST', apiUrl(base, changes), { additions, deletions });
    if (field(answer, 'status') === 'done') return;
    const id = asString(field(answer, 'id'));
    if (!id) throw call.error('changes.create answered without a change id');
    const url = apiUrl(base, `${changes}/${encodeURIComponent(id)}`);
    await call.waitUntil(`change ${id} to be done`, async () => field(await api(call, 'GET', url), 'status') === 'done');
  }

  async function apply(op: 'present' | 'cleanup', fqdn: string, value: string): Promise<void> {
    const call = begin();
    const zone = await managedZone(call, fqdn);
    const current = await txtSet(call, zone, fqdn);
    const rrdatas = nextTxtValues(op, current?.rrdatas ?? [], quotedTxt(value));
    if (!rrdatas) return;
    // The set is replaced whole: the old one deleted and the new one added in one change.
    const additions: ResourceRecordSet[] = rrdatas.length > 0 ? [{ name: absolute(fqdn), type: 'TXT', ttl: current?.ttl ?? TTL, rrdatas }] : [];
    await change(call, zone, additions, current ? [current] : []);
  }

  return {
    present: (fqdn, value) => apply('present', fqdn, value),
    cleanup: (fqdn, value) => apply('cleanup', fqdn, value),
  };
}
