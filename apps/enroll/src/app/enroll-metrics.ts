/**
 * The enroll server's domain metrics (API.md section 12), updated in place: enrollment outcomes and
 * refused TLS handshakes. Labels are fixed sets (an API.md error code, a handshake failure reason).
 */
import { metricsRegistry } from '@signet/service';
import { Counter } from 'prom-client';

const registers = [metricsRegistry];

export const enrollments = new Counter({
  name: 'signet_enrollments_total', help: 'Enrollment requests (/v1/enroll, EST simpleenroll and simplereenroll), by outcome: issued, or the error code answered',
  labelNames: ['outcome'] as const, registers,
});
export const handshakeFailures = new Counter({
  name: 'signet_tls_handshake_failures_total',
  help: 'mTLS handshakes refused, by reason (no_certificate, tls_error, timeout, untrusted_issuer: the chain verified but no policy names its CA, or it failed a check of ours)',
  labelNames: ['reason'] as const, registers,
});

/** The reason label of a TLS error during the handshake. */
export const handshakeFailureReason = (error: Error & { code?: string }): string =>
  error.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' ? 'no_certificate' : 'tls_error';
