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
   * Enrollments arriving within this many ms of each other go to the signer as one job (as in the
   * gateway). Longer than the gateway's 2 ms: an enrollment already waits for a full TLS handshake, and
   * at the rates devices arrive a 2 ms window holds one enrollment, so every one paid a whole signer job
   * (bench/enroll.js: signer CPU per enrollment 5.6 ms at 10 ms, 4.2 at 25 ms, 3.2 at 50 ms; on 2026-11-29
   * at 22:46, 3.8-4.1 ms at 25 and 2.0-2.5 at 50): 50 ms, a delay a device enrolling once a year never feels.
   */
  @IsIntBetween('ISSUE_COALESCE_MS', 0, 50)
  ISSUE_COALESCE_MS = 50;

  @IsIntBetween('ISSUE_COALESCE_MAX', 1, 256)
  ISSUE_COALESCE_MAX = 64;

  /** How often the trust store is re-read even without a change announcement (Redis pub/sub). */
  @IsIntBetween('ENROLL_TRUST_POLL_MS', 200, 600_000)
  ENROLL_TRUST_POLL_MS = 5000;
}
