/**
 * The console's only way to the server: /api/v1 with the signed-in API key as a bearer token. The key is
 * kept in sessionStorage (this tab only, gone when it closes), never in a cookie or a URL. A 401 from any
 * call signs the tab out and returns to the sign-in page.
 */

const KEY_STORAGE = 'signet.console.apiKey';
export const SIGNED_OUT_EVENT = 'signet:signed-out';

export const storedKey = (): string | null => sessionStorage.getItem(KEY_STORAGE);
export const storeKey = (key: string): void => sessionStorage.setItem(KEY_STORAGE, key);

export function signOut(reason?: string): void {
  sessionStorage.removeItem(KEY_STORAGE);
  window.dispatchEvent(new CustomEvent(SIGNED_OUT_EVENT, { detail: reason ?? null }));
}

/** An error answered by the API, in its error shape (API.md conventions). */
export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly requestId: string | null,
    readonly details: Record<string, unknown> | null,
  ) {
    super(message);
  }
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function failureOf(res: Response): Promise<ApiFailure> {
  const requestId = res.headers.get('X-Request-Id');
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: string; code?: string; details?: Record<string, unknown>; requestId?: string };
    return new ApiFailure(body.error ?? res.statusText, res.status, body.code ?? 'error', body.requestId ?? requestId, body.details ?? null);
  } catch {
    return new ApiFailure(`${res.status} ${res.statusText}`.trim(), res.status, 'error', requestId, null);
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Query;
  /** Another key than the signed-in one (the sign-in form checks a key before keeping it). */
  key?: string;
}

async function send(path: string, options: RequestOptions): Promise<Response> {
  const key = options.key ?? storedKey();
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(withQuery(`/api/v1${path}`, options.query), {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiFailure(`the server did not answer (${(err as Error).message})`, 0, 'network', null, null);
  }
  if (!res.ok) {
    const failure = await failureOf(res);
    // The signed-in key stopped working (revoked, expired): back to sign-in. A key being tried is not signed in.
    if (res.status === 401 && options.key === undefined) signOut(failure.message);
    throw failure;
  }
  return res;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const res = await send(path, options);
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}

function filenameOf(res: Response, fallback: string): string {
  const match = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '');
  return match?.[1] ?? fallback;
}

/** Fetches a file with the key in the header (never the URL) and hands it to the browser as a download. */
export async function download(path: string, options: RequestOptions & { fallbackName: string }): Promise<string> {
  const res = await send(path, options);
  const name = filenameOf(res, options.fallbackName);
  saveBlob(await res.blob(), name);
  return name;
}

export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const anchor = document.createElement('a');
  anchor.href = url;
  anchor.download = name;
  document.body.appendChild(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** API.md's list shape. */
export interface Page {
  total: number;
  page: number;
  pageSize: number;
  totalPages: number;
}

export interface Org {
  id: string;
  name: string;
  slug: string;
}

export type CaPermission = 'read' | 'issue' | 'revoke' | 'approve';
export type CaPermissions = Record<string, Partial<Record<CaPermission, boolean>>>;

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  role: 'admin' | 'member';
  permissions: CaPermissions;
  expiresAt: string | null;
  revokedAt?: string | null;
  createdAt: string;
}

export interface Whoami {
  org: Org | null;
  apiKey: ApiKey;
  permissions: CaPermissions;
}

export interface Ca {
  id: string;
  name: string;
  type: 'root' | 'intermediate';
  subject: Record<string, string>;
  commonName: string;
  keyAlgorithm: string;
  serialNumber: string;
  fingerprintSha256: string;
  validFrom: string;
  validTo: string;
  parentCaId: string | null;
  depth: number;
  pathLength: number | null;
  permittedDnsDomains: string[] | null;
  hasPassphrase: boolean;
  status: 'active' | 'revoked' | 'expired';
  revokedAt: string | null;
  revocationReason: string | null;
  crlUrl: string;
  ocspUrl: string;
  createdAt: string;
  certificatePem?: string;
}

export interface Renewal {
  status: 'none' | 'scheduled' | 'in_progress' | 'failed';
  lastAttemptAt: string | null;
  lastError: string | null;
  nextAttemptAt: string | null;
}

export interface Certificate {
  id: string;
  caId: string | null;
  profileId?: string | null;
  environment?: string | null;
  source?: string;
  issuer?: string;
  commonName: string;
  subject: Record<string, string>;
  sanDns: string[];
  sanIp: string[];
  sanEmail: string[];
  sanUri: string[];
  keyAlgorithm: string;
  serialNumber: string;
  fingerprintSha256: string;
  usage: string;
  extendedKeyUsage: string[];
  mode: 'managed' | 'csr';
  validFrom: string;
  validTo: string;
  daysRemaining: number;
  status: 'active' | 'expired' | 'revoked';
  revokedAt: string | null;
  revocationReason: string | null;
  autoRenew: boolean;
  renewalThresholdDays: number | null;
  renewedFromId: string | null;
  supersededById: string | null;
  hasStoredKey: boolean;
  notes: string | null;
  createdAt: string;
  renewal?: Renewal;
  expiringSoon?: boolean;
  acmeAccountId?: string | null;
  certificatePem?: string;
  chainPem?: string;
}

export interface Profile {
  id: string;
  name: string;
  slug: string;
  caId: string;
  description: string | null;
  environment: string | null;
  allowedDomains: string[];
  allowWildcards: boolean;
  allowIpSans: boolean;
  allowedKeyAlgorithms: string[];
  defaultValidityDays: number;
  maxValidityDays: number;
  usage: string;
  extendedKeyUsage: string[] | null;
  requireApproval: boolean;
  approvalTtlHours: number;
  createdAt: string;
  updatedAt: string;
}

export interface Actor {
  type: string;
  id: string | null;
  name: string | null;
}

export interface Approval {
  id: string;
  profileId: string;
  caId: string;
  status: 'pending' | 'approved' | 'rejected' | 'expired';
  request: { commonName: string; sanDns: string[]; sanIp: string[]; keyAlgorithm: string; validityDays: number; usage: string; mode: string };
  requestedBy: Actor;
  decidedBy: Actor | null;
  decidedAt: string | null;
  reason: string | null;
  certificateId: string | null;
  createdAt: string;
  expiresAt: string;
}

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface Delivery {
  id: string;
  event: string;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

export interface AuditEvent {
  id: string;
  at: string;
  orgId: string | null;
  eventType: string;
  outcome: 'success' | 'failed' | 'pending';
  actor: Actor;
  ip: string | null;
  resourceType: string | null;
  resourceId: string | null;
  details: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  durationMs: number | null;
}

export interface Agent {
  id: string;
  name: string;
  status?: 'online' | 'offline';
  lastSeenAt: string | null;
  createdAt: string;
}

export interface DiscoveredCertificate {
  id: string;
  agentId: string;
  source: 'filesystem' | 'network';
  location: string;
  hasPrivateKey: boolean;
  commonName?: string;
  issuer?: string;
  validTo?: string;
  serialNumber?: string;
  firstSeenAt: string;
  lastSeenAt: string;
  imported: boolean;
  certificateId: string | null;
}

export const KEY_ALGORITHMS = ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'Ed25519'] as const;
export const USAGES = ['server', 'client', 'server-client', 'api-mtls', 'vpn', 'email', 'code-signing'] as const;
export const REVOCATION_REASONS = [
  'unspecified', 'keyCompromise', 'caCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn',
] as const;
export const WEBHOOK_EVENTS = [
  'certificate.issued', 'certificate.renewed', 'certificate.renewal_failed', 'certificate.revoked', 'certificate.expiring',
  'certificate.expired', 'approval.requested', 'approval.decided', 'deployment.succeeded', 'deployment.failed',
] as const;
