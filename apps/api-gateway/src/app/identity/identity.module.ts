import { Module } from '@nestjs/common';
import { OrgDirectory } from './org-directory';
import { WhoamiController } from './whoami.controller';

/** GET /whoami. */
@Module({ controllers: [WhoamiController], providers: [OrgDirectory] })
export class IdentityModule {}
