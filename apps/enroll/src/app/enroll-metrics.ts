/**
 * The enroll server's domain metrics (API.md section 12), updated in place: enrollment outcomes and
 * refused TLS handshakes. Labels are fixed sets (an API.md error code, a handshake failure reason).
 */
import { ERROR_STATUS, metricsRegistry, startAtZero } from '@signet/service';
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

/** Why a handshake is refused (the `reason` label). */
const HANDSHAKE_FAILURE_REASONS = ['no_certificate', 'tls_error', 'timeout', 'untrusted_issuer'] as const;

// From start-up (0): every outcome an enrollment can have (issued, or a code of the one error table) and every reason.
startAtZero(enrollments, { outcome: ['issued', ...Object.keys(ERROR_STATUS)] });
startAtZero(handshakeFailures, { reason: HANDSHAKE_FAILURE_REASONS });

/** The reason label of a TLS error during the handshake. */
export const handshakeFailureReason = (error: Error & { code?: string }): (typeof HANDSHAKE_FAILURE_REASONS)[number] =>
  error.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' ? 'no_certificate' : 'tls_error';
