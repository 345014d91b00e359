/**
 * GoDaddy's Domains API v1 (developer.godaddy.com/doc/endpoint/domains), with `Authorization: sso-key
 * <key>:<secret>`:
 * - the zone: `GET /v1/domains/<candidate>` walking up the name's labels (404: not this one);
 * - the values already at the name: `GET /v1/domains/<domain>/records/TXT/<relative name>`;
 * - present: `PUT /v1/domains/<domain>/records/TXT/<relative name>` with those values and the new one,
 *   `[{data, ttl}]` (PUT replaces every TXT record at the name, so the others are sent back);
 * - cleanup: the same PUT without the value, or `DELETE /v1/domains/<domain>/records/TXT/<relative name>`
 *   when it was the last.
 * Errors carry the API's `{code, message, fields: [{path, message}]}`.
 */
import type { DnsProvider } from './dns-provider';
import type { GoDaddyConfig } from './dns-provider-config';
import { nextTxtValues, relativeName } from './dns-names';
import { ApiCall, apiUrl, asArray, asString, field } from './http-api';

const DEFAULT_BASE_URL = 'https://api.godaddy.com';
/** GoDaddy's smallest TTL. */
const TTL = 600;

/** `INVALID_BODY: Request body doesn't fulfill schema (records[0].data: ...)`. */
function godaddyError(body: unknown, text: string): string {
  const code = asString(field(body, 'code'));
  const message = asString(field(body, 'message'));
  if (!message) return text;
  const fields = asArray(field(body, 'fields')).map((f) => `${asString(field(f, 'path')) ?? '?'}: ${asString(field(f, 'message')) ?? ''}`);
  return `${code ? `${code}: ` : ''}${message}${fields.length > 0 ? ` (${fields.join('; ')})` : ''}`;
}

interface TxtRecord {
  data: string;
  ttl: number;
}

export function godaddyProvider(config: GoDaddyConfig, timeoutMs: number): DnsProvider {
  const base = config.baseUrl ?? DEFAULT_BASE_URL;
  const headers = { authorization: `sso-key ${config.apiKey}:${config.apiSecret}` };
  const begin = (): ApiCall => new ApiCall('godaddy', [config.apiKey, config.apiSecret], timeoutMs);

  const findDomain = (call: ApiCall, fqdn: string): Promise<string> =>
    call.findZone(fqdn, 'domain in this GoDaddy account', async (candidate) => {
      const { status } = await call.json('GET', apiUrl(base, `/v1/domains/${encodeURIComponent(candidate)}`), { headers, expect: [200, 404], detail: godaddyError });
      return status === 200 ? candidate : undefined;
    });

  /** The TXT records at the name, and the URL that reads and writes them. */
  async function txtRecords(call: ApiCall, fqdn: string): Promise<{ url: URL; records: TxtRecord[] }> {
    const domain = await findDomain(call, fqdn);
    const url = apiUrl(base, `/v1/domains/${encodeURIComponent(domain)}/records/TXT/${encodeURIComponent(relativeName(fqdn, domain))}`);
    const { body } = await call.json('GET', url, { headers, detail: godaddyError });
    const records = asArray(body).map((r) => ({ data: asString(field(r, 'data')) ?? '', ttl: Number(field(r, 'ttl')) || TTL }));
    return { url, records };
  }

  async function apply(op: 'present' | 'cleanup', fqdn: string, value: string): Promise<void> {
    const call = begin();
    const { url, records } = await txtRecords(call, fqdn);
    const next = nextTxtValues(op, records.map((r) => r.data), value);
    if (!next) return;
    if (next.length === 0) await call.json('DELETE', url, { headers, expect: [200, 204, 404], detail: godaddyError });
    else await call.json('PUT', url, { headers, body: next.map((data) => records.find((r) => r.data === data) ?? { data, ttl: TTL }), detail: godaddyError });
  }

  return {
    present: (fqdn, value) => apply('present', fqdn, value),
    cleanup: (fqdn, value) => apply('cleanup', fqdn, value),
  };
}
