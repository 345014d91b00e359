import { IsOptional, IsString, Matches, ValidateBy } from 'class-validator';
import { CommonConfig, IsIntBetween, IsPort } from '@signet/service';

/** The enrollment service's environment. Like the gateway it holds no CA key and no MASTER_KEY. */
export class EnrollConfig extends CommonConfig {
  @IsPort('ENROLL_PORT')
  ENROLL_PORT = 8443;

  @IsPort('ENROLL_HEALTH_PORT')
  ENROLL_HEALTH_PORT = 8081;

  /** PEM files of the TLS server certificate and key; when unset one is issued at start (see below). */
  @IsOptional()
  @IsString()
  ENROLL_TLS_CERT?: string = undefined;

  @IsOptional()
  @IsString()
  ENROLL_TLS_KEY?: string = undefined;

  /**
   * Without files: the CA that issues the server certificate at start (devices trust it through
   * /pki/cas/<id>/ca.crt). Unset too: a self-signed certificate made at start (for trials only).
   */
  @IsOptional()
  @Matches(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, { message: 'ENROLL_TLS_CA_ID must be a CA id (UUID)' })
  ENROLL_TLS_CA_ID?: string = undefined;

  /** Names of the issued or self-signed server certificate, comma-separated (DNS names or IPs). */
  @Matches(/^[A-Za-z0-9.:*-]+(,[A-Za-z0-9.:*-]+)*$/, { message: 'ENROLL_TLS_HOSTNAMES must be comma-separated DNS names or IPs' })
  ENROLL_TLS_HOSTNAMES = 'localhost,127.0.0.1';

  @IsIntBetween('ENROLL_BODY_LIMIT_BYTES', 1024, 1024 * 1024)
  ENROLL_BODY_LIMIT_BYTES = 65536;

  /** Enrollments per client certificate and minute. */
  @IsIntBetween('ENROLL_RATE_LIMIT', 1, 1_000_000)
  ENROLL_RATE_LIMIT = 300;

  @IsIntBetween('ENROLL_HANDSHAKE_TIMEOUT_MS', 100, 120_000)
  ENROLL_HANDSHAKE_TIMEOUT_MS = 10_000;

  /** A request (headers and body) must arrive within this: slow or stalled clients cannot pin the server. */
  @IsIntBetween('ENROLL_REQUEST_TIMEOUT_MS', 100, 300_000)
  ENROLL_REQUEST_TIMEOUT_MS = 15_000;

  @IsIntBetween('ENROLL_MAX_CONNECTIONS', 1, 1_000_000)
  ENROLL_MAX_CONNECTIONS = 4096;

  /**
   * Enroll processes sharing ENROLL_PORT and ENROLL_HEALTH_PORT on this host (node:cluster), each a full
   * replica: rate-limit counters are in Redis and revocation is read from PostgreSQL, so nothing a device
   * depends on lives in one worker's memory. Each worker fetches its own server certificate at start, so
   * more than one needs files or ENROLL_TLS_CA_ID: self-signed, each would serve a different throw-away root.
   */
  @IsIntBetween('ENROLL_WORKERS', 1, 64)
  @ValidateBy({
    name: 'workersShareTrust',
    validator: {
      // A value out of 1-64 is the range rule's to name.
      validate: (workers: unknown, args) => !Number.isInteger(workers) || Number(workers) <= 1 || Number(workers) > 64 || !!((args?.object as EnrollConfig).ENROLL_TLS_CERT || (args?.object as EnrollConfig).ENROLL_TLS_CA_ID),
      defaultMessage: () => 'ENROLL_WORKERS above 1 needs ENROLL_TLS_CERT/ENROLL_TLS_KEY or ENROLL_TLS_CA_ID (self-signed, each worker would serve its own throw-away root)',
    },
  })
  ENROLL_WORKERS = 1;

  /**
   * A wait on top of enroll's own gathering (see EnrollmentService.issue): an org's enrollments that arrive
   * while its signer job is out already travel together in the next job, so under load groups grow with
   * the round trip, and alone an enrollment needs no window. A fixed window only added latency there
   * (bench/enroll.js, 16 devices, 2026-11-29 23:05-23:13: 236 /s at 0 ms, 195 /s at 2 ms, 113 /s at 50 ms,
   * signer CPU per enrollment 1.5, 1.9, 1.8 ms; before the gathering, a 25 ms window gave 195-214 /s, 1.4 ms).
   */
  @IsIntBetween('ISSUE_COALESCE_MS', 0, 50)
  ISSUE_COALESCE_MS = 0;

  @IsIntBetween('ISSUE_COALESCE_MAX', 1, 256)
  ISSUE_COALESCE_MAX = 64;

  /** How often the trust store is re-read even without a change announcement (Redis pub/sub). */
  @IsIntBetween('ENROLL_TRUST_POLL_MS', 200, 600_000)
  ENROLL_TRUST_POLL_MS = 5000;
}
