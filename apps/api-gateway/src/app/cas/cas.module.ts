import { Module } from '@nestjs/common';
import { PkiModule } from '../pki/pki.module';
import { CasController } from './cas.controller';
import { CasService } from './cas.service';

/** Certificate authorities: hierarchies, import, chains, CRLs, revocation of intermediates. */
@Module({ imports: [PkiModule], controllers: [CasController], providers: [CasService], exports: [CasService] })
export class CasModule {}
