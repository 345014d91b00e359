/**
 * The enroll server's own TLS certificate (libs/service serverIdentity): from ENROLL_TLS_CERT/ENROLL_TLS_KEY
 * files; else issued at start by ENROLL_TLS_CA_ID through the signer (devices then trust that CA, fetched
 * from the gateway's /pki/cas/<id>/ca.crt); else, for a trial, a certificate under a throw-away root.
 */
import { Logger } from '@nestjs/common';
import { caById, certificatesById } from '@signet/persistence';
import { ServerIdentity, SignerClient, serverIdentity } from '@signet/service';
import { DataSource } from 'typeorm';
import type { EnrollConfig } from './enroll.config';

export function enrollServerIdentity(config: EnrollConfig, dataSource: DataSource, signer: SignerClient, logger: Logger): Promise<ServerIdentity> {
  return serverIdentity({
    service: 'enroll', label: 'the enroll server', variables: 'ENROLL_TLS',
    certFile: config.ENROLL_TLS_CERT, keyFile: config.ENROLL_TLS_KEY, caId: config.ENROLL_TLS_CA_ID, hostnames: config.ENROLL_TLS_HOSTNAMES,
    store: { caById: (id) => caById(dataSource.manager, id), certificatesById: (ids) => certificatesById(dataSource.manager, ids) },
    signer, logger,
  });
}
