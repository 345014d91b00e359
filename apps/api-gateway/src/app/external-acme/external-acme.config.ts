import { IsBooleanFlag, IsIntBetween } from '@signet/service';
import { IsOptional, IsString, Matches } from 'class-validator';
import { WebhooksConfig } from '../webhooks/webhooks.config';

/** Obtaining from outside ACME CAs (API.md section 8); the gateway's config extends it. */
export class ExternalAcmeConfig extends WebhooksConfig {
  /** Whether this gateway process works the outside-ACME order queue (every replica does by default). */
  @IsBooleanFlag('EXTERNAL_ACME_WORKER')
  EXTERNAL_ACME_WORKER = true;

  /** Orders each gateway process works at once (each holds a slot while the CA validates). */
  @IsIntBetween('EXTERNAL_ACME_CONCURRENCY', 1, 100)
  EXTERNAL_ACME_CONCURRENCY = 4;

  /** One attempt at an order, new order to certificate (DNS updates and the CA's validation included), at most this long. */
  @IsIntBetween('EXTERNAL_ACME_ORDER_TIMEOUT_MS', 5_000, 3_600_000)
  EXTERNAL_ACME_ORDER_TIMEOUT_MS = 600_000;

  /** One HTTP request to an outside CA or DNS API, at most this long. */
  @IsIntBetween('EXTERNAL_ACME_REQUEST_TIMEOUT_MS', 1_000, 120_000)
  EXTERNAL_ACME_REQUEST_TIMEOUT_MS = 30_000;

  /** After a failed automatic renewal, the next one waits this long (outside CAs limit failed validations). */
  @IsIntBetween('EXTERNAL_ACME_RENEWAL_RETRY_MS', 1_000, 7 * 86_400_000)
  EXTERNAL_ACME_RENEWAL_RETRY_MS = 3_600_000;

  /**
   * The absolute paths of the programs the `exec` DNS provider may run, comma-separated (lego's exec
   * protocol: `<command> present|cleanup <fqdn> <value>`). Empty (the default): `exec` is refused, since
   * org admins would otherwise run any program on the gateway.
   */
  @Matches(/^$|^\/[^,\x00-\x1f]+(,\/[^,\x00-\x1f]+)*$/, { message: 'EXTERNAL_ACME_EXEC_COMMANDS must be absolute paths, comma-separated (or empty)' })
  EXTERNAL_ACME_EXEC_COMMANDS = '';

  /**
   * A PEM file of further CA certificates to trust for outside ACME directories (a private ACME CA such
   * as step-ca or a test CA), beside the system's. Unset: the system's trust store only.
   */
  @IsOptional()
  @IsString()
  EXTERNAL_ACME_CA_FILE?: string = undefined;
}

export const execCommandsOf = (config: Pick<ExternalAcmeConfig, 'EXTERNAL_ACME_EXEC_COMMANDS'>): string[] =>
  config.EXTERNAL_ACME_EXEC_COMMANDS.split(',').filter((path) => path !== '');
