/**
 * DigitalOcean's API v2 (docs.digitalocean.com/reference/api), with a personal access token as a bearer
 * token:
 * - the zone: `GET /v2/domains/<candidate>` walking up the name's labels (404: not this one);
 * - present: `POST /v2/domains/<domain>/records` `{type: "TXT", name: <relative name>, data, ttl: 30}`;
 * - cleanup: `GET /v2/domains/<domain>/records?type=TXT&name=<fqdn>&per_page=200`, then
 *   `DELETE /v2/domains/<domain>/records/<id>` for each record whose data is the value.
 * Errors carry the API's `{id, message}`.
 */
import type { DnsProvider } from './dns-provider';
import type { DigitalOceanConfig } from './dns-provider-config';
import { canonicalName, relativeName } from './dns-names';
import { ApiCall, apiUrl, asArray, asString, field } from './http-api';

const DEFAULT_BASE_URL = 'https://api.digitalocean.com';
/** DigitalOcean's smallest TTL. */
const TTL = 30;

/** `not_found: The resource you were accessing could not be found.` */
function digitalOceanError(body: unknown, text: string): string {
  const id = asString(field(body, 'id'));
  const message = asString(field(body, 'message'));
  return message ? `${id ? `${id}: ` : ''}${message}` : text;
}

export function digitalOceanProvider(config: DigitalOceanConfig, timeoutMs: number): DnsProvider {
  const base = config.baseUrl ?? DEFAULT_BASE_URL;
  const headers = { authorization: `Bearer ${config.apiToken}` };
  const begin = (): ApiCall => new ApiCall('digitalocean', [config.apiToken], timeoutMs);

  const findDomain = (call: ApiCall, fqdn: string): Promise<string> =>
    call.findZone(fqdn, 'domain in this DigitalOcean account', async (candidate) => {
      const { status } = await call.json('GET', apiUrl(base, `/v2/domains/${encodeURIComponent(candidate)}`), { headers, expect: [200, 404], detail: digitalOceanError });
      return status === 200 ? candidate : undefined;
    });

  const recordsUrl = (domain: string, query: Record<string, string> = {}): URL => apiUrl(base, `/v2/domains/${encodeURIComponent(domain)}/records`, query);

  return {
    async present(fqdn, value) {
      const call = begin();
      const domain = await findDomain(call, fqdn);
      await call.json('POST', recordsUrl(domain), {
        headers,
        body: { type: 'TXT', name: relativeName(fqdn, domain), data: value, ttl: TTL },
        expect: [201],
        detail: digitalOceanError,
      });
    },

    async cleanup(fqdn, value) {
      const call = begin();
      const domain = await findDomain(call, fqdn);
      const { body } = await call.json('GET', recordsUrl(domain, { type: 'TXT', name: canonicalName(fqdn), per_page: '200' }), { headers, detail: digitalOceanError });
      const relative = relativeName(fqdn, domain);
      const ids = asArray(field(body, 'domain_records'))
        .filter((r) => asString(field(r, 'data')) === value && asString(field(r, 'type')) === 'TXT' && canonicalName(asString(field(r, 'name')) ?? '') === relative)
        .map((r) => asString(field(r, 'id')))
        .filter((id): id is string => !!id);
      for (const id of ids) {
        await call.json('DELETE', apiUrl(base, `/v2/domains/${encodeURIComponent(domain)}/records/${encodeURIComponent(id)}`), {
          headers,
          expect: [204, 404],
          detail: digitalOceanError,
        });
      }
    },
  };
}
