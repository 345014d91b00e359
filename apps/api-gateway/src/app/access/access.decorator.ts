/**
 * What a route needs of its caller. The global guard refuses any route that declares neither this nor
 * @Public(), so a new route is closed until someone says who may use it.
 *
 * - `platform`: the platform admin key or a platform key
 * - `orgAdmin`: an org key with role admin
 * - `orgKey`: any org key (admin or member); the service narrows by per-CA permission
 * - `admin`: a platform key or an org admin key (the service scopes an org admin to its org)
 * - `anyKey`: any valid key, platform or org (not an agent's)
 * - `agent`: an agent's key (the service acts for that agent only)
 * - `{ ca, from }`: an org key allowed `ca` on the CA whose id is at `from` (a route param or body field)
 */
import { SetMetadata } from '@nestjs/common';
import type { CaAction } from './principal';

export type CaIdSource = `param.${string}` | `body.${string}` | `query.${string}`;

export type AccessNeed = 'platform' | 'orgAdmin' | 'orgKey' | 'admin' | 'anyKey' | 'agent' | { ca: CaAction; from: CaIdSource };

export const ACCESS_NEED = 'signet:access-need';

export const Access = (need: AccessNeed) => SetMetadata(ACCESS_NEED, need);
