import { InitialSchema1763800000000 } from './1763800000000-initial-schema';

/** In order. A new migration is a new file plus one line here. */
export const MIGRATIONS = [InitialSchema1763800000000];
