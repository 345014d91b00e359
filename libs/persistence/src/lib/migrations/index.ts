import { InitialSchema1763800000000 } from './1763800000000-initial-schema';
import { CrlStorageAndRevocationIndexes1764400000000 } from './1764400000000-crl-storage-and-revocation-indexes';
import { ProfilesAndApprovals1764500000000 } from './1764500000000-profiles-and-approvals';
import { CompromisedKeys1764600000000 } from './1764600000000-compromised-keys';
import { AuditRetention1764700000000 } from './1764700000000-audit-retention';
import { EnrolledCertificates1764800000000 } from './1764800000000-enrolled-certificates';
import { RevocationLedger1765100000000 } from './1765100000000-revocation-ledger';
import { Acme1765200000000 } from './1765200000000-acme';
import { RenewalState1765400000000 } from './1765400000000-renewal-state';
import { ImportedCertificates1765500000000 } from './1765500000000-imported-certificates';
import { Webhooks1765300000000 } from './1765300000000-webhooks';
import { InventorySearchIndexes1765900000000 } from './1765900000000-inventory-search-indexes';
import { ExternalAcme1765600000000 } from './1765600000000-external-acme';
import { Agents1765700000000 } from './1765700000000-agents';
import { CrlShards1765800000000 } from './1765800000000-crl-shards';
import { RenewUnderProfile1766000000000 } from './1766000000000-renew-under-profile';

/** In order. A new migration is a new file plus one line here. */
export const MIGRATIONS = [InitialSchema1763800000000, CrlStorageAndRevocationIndexes1764400000000, ProfilesAndApprovals1764500000000, CompromisedKeys1764600000000, AuditRetention1764700000000, EnrolledCertificates1764800000000, RevocationLedger1765100000000, Acme1765200000000, Webhooks1765300000000, RenewalState1765400000000, ImportedCertificates1765500000000, ExternalAcme1765600000000, Agents1765700000000, CrlShards1765800000000, InventorySearchIndexes1765900000000, RenewUnderProfile1766000000000];
