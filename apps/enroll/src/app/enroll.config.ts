import { IsOptional, IsString, Matches } from 'class-validator';
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
   * Enrollments arriving within this many ms of each other go to the signer as one job (as in the
   * gateway). Longer than the gateway's 2 ms: an enrollment already waits for a full TLS handshake, and
   * at the rates devices arrive a 2 ms window holds one enrollment, so every one paid a whole signer job
   * (bench/enroll.js: signer CPU per enrollment 5.6 ms at 10 ms, 4.2 at 25 ms, 3.2 at 50 ms).
   */
  @IsIntBetween('ISSUE_COALESCE_MS', 0, 50)
  ISSUE_COALESCE_MS = 25;

  @IsIntBetween('ISSUE_COALESCE_MAX', 1, 256)
  ISSUE_COALESCE_MAX = 64;

  /** How often the trust store is re-read even without a change announcement (Redis pub/sub). */
  @IsIntBetween('ENROLL_TRUST_POLL_MS', 200, 600_000)
  ENROLL_TRUST_POLL_MS = 5000;
}
