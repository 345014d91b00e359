/**
 * Marks a controller or route as needing no credentials. The gateway's access guard refuses any route
 * that declares neither this nor an explicit need, so forgetting to declare one fails closed.
 */
import { SetMetadata } from '@nestjs/common';

export const PUBLIC_ROUTE = 'signet:public';
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);
