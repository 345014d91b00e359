import { Module } from '@nestjs/common';
import { OcspStatusController } from './ocsp-status.controller';
import { PkiStore } from './pki-store';

/** What relying parties read: pre-signed OCSP responses, CRLs and CA certificates (and the status API). */
@Module({ controllers: [OcspStatusController], providers: [PkiStore], exports: [PkiStore] })
export class PkiModule {}
