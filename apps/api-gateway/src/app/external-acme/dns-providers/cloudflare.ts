/**
 * Cloudflare's API v4 (developers.cloudflare.com/api), with an API token as a bearer token:
 * - the zone: `GET /client/v4/zones?name=<candidate>` walking up the name's labels;
 * - present: `POST /client/v4/zones/<id>/dns_records` `{type: "TXT", name, content, ttl: 120}` (an identical
 *   record already there, error 81058, counts as done);
 * - cleanup: `GET /client/v4/zones/<id>/dns_records?type=TXT&name=<fqdn>&per_page=100`, then
 *   `DELETE /client/v4/zones/<id>/dns_records/<record id>` for each record whose content is the value (bare,
 *   or quoted as Cloudflare now suggests for TXT content).
 * Errors carry the envelope's `errors: [{code, message}]`.
 */
import type { DnsProvider } from './dns-provider';
import type { CloudflareConfig } from './dns-provider-config';
import { canonicalName } from './dns-names';
import { ApiCall, apiUrl, asArray, asString, field } from './http-api';

const DEFAULT_BASE_URL = 'https://api.cloudflare.com';
const TTL = 120;
const IDENTICAL_RECORD_EXISTS = 81058;

/** `[1004] DNS Validation Error; [9005] ...` from Cloudflare's envelope. */
function cloudflareErrors(body: unknown, text: string): string {
  const errors = asArray(field(body, 'errors')).map((e) => `[${asString(field(e, 'code')) ?? '?'}] ${asString(field(e, 'message')) ?? ''}`);
  return errors.length > 0 ? errors.join('; ') : text;
}

export function cloudflareProvider(config: CloudflareConfig, timeoutMs: number): DnsProvider {
  const base = config.baseUrl ?? DEFAULT_BASE_URL;
  const headers = { authorization: `Bearer ${config.apiToken}` };
  const begin = (): ApiCall => new ApiCall('cloudflare', [config.apiToken], timeoutMs);

  const findZone = (call: ApiCall, fqdn: string): Promise<string> =>
    call.findZone(fqdn, 'zone in this Cloudflare account', async (candidate) => {
      const { body } = await call.json('GET', apiUrl(base, '/client/v4/zones', { name: candidate }), { headers, detail: cloudflareErrors });
      return asString(field(asArray(field(body, 'result')).find((z) => canonicalName(asString(field(z, 'name')) ?? '') === candidate), 'id'));
    });

  return {
    async present(fqdn, value) {
      const call = begin();
      const zoneId = await findZone(call, fqdn);
      const url = apiUrl(base, `/client/v4/zones/${encodeURIComponent(zoneId)}/dns_records`);
      const { status, body } = await call.json('POST', url, {
        headers,
        body: { type: 'TXT', name: canonicalName(fqdn), content: value, ttl: TTL },
        expect: [200, 201, 400],
        detail: cloudflareErrors,
      });
      if (status !== 400) return;
      const codes = asArray(field(body, 'errors')).map((e) => Number(field(e, 'code')));
      if (!codes.includes(IDENTICAL_RECORD_EXISTS)) throw call.refused(`POST ${url.pathname}`, status, cloudflareErrors(body, ''));
    },

    async cleanup(fqdn, value) {
      const call = begin();
      const zoneId = await findZone(call, fqdn);
      const records = apiUrl(base, `/client/v4/zones/${encodeURIComponent(zoneId)}/dns_records`, { type: 'TXT', name: canonicalName(fqdn), per_page: '100' });
      const { body } = await call.json('GET', records, { headers, detail: cloudflareErrors });
      const ids = asArray(field(body, 'result'))
        .filter((r) => [value, `"${value}"`].includes(asString(field(r, 'content')) ?? '') && canonicalName(asString(field(r, 'name')) ?? '') === canonicalName(fqdn))
        .map((r) => asString(field(r, 'id')))
        .filter((id): id is string => !!id);
      for (const id of ids) {
        const url = apiUrl(base, `/client/v4/zones/${encodeURIComponent(zoneId)}/dns_records/${encodeURIComponent(id)}`);
        await call.json('DELETE', url, { headers, expect: [200, 404], detail: cloudflareErrors });
      }
    },
  };
}
