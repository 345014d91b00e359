/**
 * acme-client (the kept package) as the gateway uses it against outside ACME CAs: every request
 * bounded by EXTERNAL_ACME_REQUEST_TIMEOUT_MS, the system's trust store plus EXTERNAL_ACME_CA_FILE's
 * certificates (a private ACME CA), no retries of its own (the order queue retries whole attempts),
 * and status polling that starts at 1 s. acme-client's HTTP settings are one global instance: they are
 * set once, here, at start.
 */
import * as acme from 'acme-client';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { ExternalAcmeConfig } from './external-acme.config';

/** Why an outside CA or its directory could not be used: the CA's own words where it gave any. */
export class OutsideAcmeError extends Error {
  constructor(
    message: string,
    /** An RFC 7807 problem as the CA sent it (type, detail, status, subproblems), when it sent one. */
    readonly problem: Record<string, unknown> = { detail: message },
    /** A network failure or a timeout: worth another attempt later. */
    readonly transient = false,
  ) {
    super(message);
  }
}

/** What an account key is bound to in the gateway's secret box (GCM additional data): that account, and nothing else. */
export const accountKeyBinding = (accountId: string) => `external-acme-account:${accountId}`;
/** What stored DNS provider credentials are bound to in the secret box. */
export const dnsCredentialsBinding = (credentialsId: string) => `external-acme-dns-credentials:${credentialsId}`;

/** An RFC 7807 problem document a CA answered with (RFC 8555 6.7), kept whole: acme-client alone keeps only its detail. */
class AcmeProblem extends OutsideAcmeError {}

let problemsKept = false;

/** Configure acme-client's HTTP instance once per process. */
export function configureOutsideAcmeHttp(config: Pick<ExternalAcmeConfig, 'EXTERNAL_ACME_REQUEST_TIMEOUT_MS' | 'EXTERNAL_ACME_CA_FILE'>): void {
  if (!problemsKept) {
    problemsKept = true;
    // After acme-client's own retry interceptor. badNonce stays with acme-client, which retries it.
    acme.axios.interceptors.response.use((response) => {
      const data = response.data as Record<string, unknown> | undefined;
      const type = data && typeof data === 'object' ? data['type'] : undefined;
      if (response.status >= 400 && typeof type === 'string' && type.startsWith('urn:ietf:params:acme:error:') && type !== 'urn:ietf:params:acme:error:badNonce') {
        throw new AcmeProblem(String(data?.['detail'] ?? type), data as Record<string, unknown>, response.status >= 500 || type === 'urn:ietf:params:acme:error:rateLimited');
      }
      return response;
    });
  }
  const extra = config.EXTERNAL_ACME_CA_FILE ? [readFileSync(config.EXTERNAL_ACME_CA_FILE, 'utf8')] : [];
  acme.axios.defaults.timeout = config.EXTERNAL_ACME_REQUEST_TIMEOUT_MS;
  acme.axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, ...extra], keepAlive: true });
  // Redirects are not followed: a directory URL says where the CA is, not where it may send us.
  acme.axios.defaults.maxRedirects = 0;
  const settings = (acme.axios.defaults as unknown as { acmeSettings: Record<string, number> }).acmeSettings;
  // No retries inside a request: an unreachable directory answers its caller at once, and the order
  // queue retries a whole attempt with backoff instead (a CA's 503 or 429 included).
  settings['retryMaxAttempts'] = 0;
}

export function outsideAcmeClient(options: { directoryUrl: string; accountKeyPem: string; accountUrl?: string; eab?: { keyId: string; hmacKey: string } }): acme.Client {
  return new acme.Client({
    directoryUrl: options.directoryUrl,
    accountKey: options.accountKeyPem,
    accountUrl: options.accountUrl,
    externalAccountBinding: options.eab ? { kid: options.eab.keyId, hmacKey: options.eab.hmacKey } : undefined,
    backoffAttempts: 60,
    backoffMin: 1000,
    backoffMax: 10_000,
  });
}

/** Any error of acme-client as an OutsideAcmeError: axios' network failures and timeouts are transient, the CA's answers are not. */
export function outsideAcmeErrorOf(error: unknown, what: string): OutsideAcmeError {
  if (error instanceof AcmeProblem) return new OutsideAcmeError(`${what}: ${error.message}`, error.problem, error.transient);
  if (error instanceof OutsideAcmeError) return error;
  const e = error as { isAxiosError?: boolean; code?: string; message?: string; response?: { status?: number; data?: unknown } };
  if (e.isAxiosError) {
    const data = e.response?.data as Record<string, unknown> | undefined;
    if (data && typeof data === 'object' && typeof data['detail'] === 'string') return new OutsideAcmeError(`${what}: ${data['detail']}`, data);
    const transient = !e.response || (e.response.status ?? 0) >= 500 || e.response.status === 429;
    return new OutsideAcmeError(`${what}: ${e.response ? `HTTP ${e.response.status}` : (e.code ?? e.message ?? 'no answer')}`, undefined, transient);
  }
  return new OutsideAcmeError(`${what}: ${(e.message ?? String(error)).slice(0, 1000)}`);
}
