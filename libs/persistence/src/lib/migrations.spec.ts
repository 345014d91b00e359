import { Client } from 'pg';
import { randomBytes } from 'node:crypto';
import { dropDatabase, ensureDatabaseExists, revertAllMigrations, revertLastMigration, runMigrations } from '../index';
import { MIGRATIONS } from './migrations';

const EXPECTED_TABLES = [
  'acme_accounts',
  'acme_authorizations',
  'acme_challenges',
  'acme_eab_keys',
  'acme_order_authorizations',
  'acme_orders',
  'agents',
  'api_keys',
  'approvals',
  'audit_events',
  'cas',
  'certificate_deploy_targets',
  'certificate_expiry_notices',
  'certificates',
  'compromised_keys',
  'crl_shards',
  'crls',
  'deployments',
  'discovered_certificates',
  'enrollment_policies',
  'external_acme_accounts',
  'external_acme_dns_credentials',
  'external_acme_orders',
  'idempotency_records',
  'ocsp_responses',
  'orgs',
  'profiles',
  'revocation_ledger',
  'webhook_cursor',
  'webhook_deliveries',
  'webhooks',
];

async function query<T = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

const tables = async (url: string): Promise<string[]> =>
  (
    await query<{ table_name: string }>(
      url,
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'schema_migrations' ORDER BY 1`,
    )
  ).map((r) => r.table_name);

describe('migrations on a fresh database', () => {
  // A database of this test's own: the run's shared one is already migrated.
  const url = Object.assign(new URL(process.env.DATABASE_URL as string), {
    pathname: `/signet_test_${randomBytes(5).toString('hex')}`,
  }).toString();

  beforeAll(async () => {
    expect(await ensureDatabaseExists(url)).toBe(true);
    expect(await ensureDatabaseExists(url)).toBe(false);
  });
  afterAll(() => dropDatabase(url));

  it('go up, down and up again, leaving exactly the schema API.md needs', async () => {
    expect(await runMigrations(url)).toEqual(MIGRATIONS.map((m) => new m().name));
    expect(await tables(url)).toEqual(EXPECTED_TABLES);
    expect(await runMigrations(url)).toEqual([]);

    expect(await revertAllMigrations(url)).toBe(MIGRATIONS.length);
    expect(await tables(url)).toEqual([]);

    await runMigrations(url);
    expect(await tables(url)).toEqual(EXPECTED_TABLES);
  });

  it('has the indexes list, search and expiry queries use', async () => {
    const indexes = (await query<{ indexname: string }>(url, `SELECT indexname FROM pg_indexes WHERE schemaname = 'public'`)).map(
      (r) => r.indexname,
    );
    expect(indexes).toEqual(
      expect.arrayContaining([
        'certificates_org_created_idx',
        'certificates_org_valid_to_idx',
        'certificates_org_cn_idx',
        'certificates_names_trgm_idx',
        'certificates_hex_trgm_idx',
        'certificates_imported_issuer_trgm_idx',
        'certificates_revoked_idx',
        'certificates_renewal_idx',
        'audit_events_org_seq_idx',
        'audit_events_type_idx',
        'ocsp_responses_next_update_idx',
      ]),
    );
  });

  it('serves each arm of the list search from an index (migration 1765900000000), so no search reads the whole table', async () => {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      // Without the org's own condition and with plain index scans off, a plan that avoids reading the whole
      // table must OR one index scan per arm: an arm without an index would leave only the sequential scan.
      await client.query(`SET enable_seqscan = off; SET enable_indexscan = off`);
      // The search of certificate-lists.ts certificatesPage, its arms as it writes them.
      const plan = await client.query(
        `EXPLAIN SELECT id FROM certificates c WHERE (
            (certificate_names_text(c.common_name, c.san_dns) LIKE $2
              AND (lower(c.common_name) LIKE $2 OR EXISTS (SELECT 1 FROM unnest(c.san_dns) AS d WHERE d LIKE $2)))
            OR ((lower(c.serial_number) || ' ' || c.fingerprint_sha256) LIKE $3 AND (c.serial_number LIKE upper($3) OR c.fingerprint_sha256 LIKE $3))
            OR c.ca_id = ANY($1::uuid[])
            OR (c.ca_id IS NULL AND replace(replace(replace(lower(c.issuer_dn), ', ', ','), ' = ', '='), ' =', '=') LIKE $2))`,
        [['00000000-0000-4000-8000-000000000000'], '%www.example%', '%0a1b2c3d%'],
      );
      const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
      // Names, serial and fingerprint by their trigram indexes, the matching issuing CAs' certificates by ca_id; the
      // imported ones' issuer by its partial trigram index or by ca_id IS NULL, whichever the planner prices lower.
      for (const index of ['certificates_names_trgm_idx', 'certificates_hex_trgm_idx', 'certificates_ca_created_idx']) {
        expect(text).toContain(`Bitmap Index Scan on ${index}`);
      }
      expect(text).toContain('BitmapOr');
      expect(text).not.toMatch(/Seq Scan on certificates/);
    } finally {
      await client.end();
    }
  });

  it('serves CRL pages index-only and the sweep from an index, stores CRLs uncompressed; and reverts that', async () => {
    const revocationState = async () => ({
      indexes: Object.fromEntries(
        (await query<{ indexname: string; indexdef: string }>(url, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'certificates' AND indexname LIKE 'certificates_revoked%'`))
          .map((r) => [r.indexname, r.indexdef.replace(/^.* USING btree /, '')]),
      ),
      derStorage: (await query<{ s: string }>(url, `SELECT attstorage AS s FROM pg_attribute WHERE attrelid = 'crls'::regclass AND attname = 'der'`))[0].s,
    });
    expect(await revocationState()).toEqual({
      indexes: {
        certificates_revoked_idx: "(ca_id, serial_number) INCLUDE (revoked_at, revocation_reason, valid_to) WHERE (status = 'revoked'::text)",
        certificates_revoked_at_idx: "(ca_id, revoked_at) WHERE (status = 'revoked'::text)",
      },
      derStorage: 'e',
    });
    // The CRL builder's page query as crl-builder.ts sends it: an index-only scan even when the planner may not scan the table.
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`SET enable_seqscan = off; SET enable_bitmapscan = off`);
      const plan = await client.query(
        `EXPLAIN SELECT serial_number AS s, revoked_at AS at, revocation_reason AS r FROM certificates
          WHERE ca_id = $1 AND status = 'revoked' AND serial_number > $2 AND valid_to > $3 ORDER BY serial_number LIMIT 20000`,
        ['00000000-0000-4000-8000-000000000000', '', new Date()],
      );
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Index Only Scan using certificates_revoked_idx/);
      // A shard's pages (migration 1765800000000) read that shard's rows only, index-only too.
      const shardPlan = await client.query(
        `EXPLAIN SELECT serial_number AS s, revoked_at AS at, revocation_reason AS r FROM certificates
          WHERE ca_id = $1 AND status = 'revoked' AND crl_shard = $4 AND serial_number > $2 AND valid_to > $3 ORDER BY serial_number LIMIT 20000`,
        ['00000000-0000-4000-8000-000000000000', '', new Date(), 3],
      );
      expect(shardPlan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Index Only Scan using certificates_crl_shard_idx/);
    } finally {
      await client.end();
    }

    // Back past the migrations after it, then this one.
    for (let i = MIGRATIONS.length - 1; MIGRATIONS[i].name !== 'CrlStorageAndRevocationIndexes1764400000000'; i--) expect(await revertLastMigration(url)).toBe(true);
    expect(await revertLastMigration(url)).toBe(true);
    expect(await revocationState()).toEqual({
      indexes: { certificates_revoked_idx: "(ca_id, serial_number) WHERE (status = 'revoked'::text)" },
      derStorage: 'x',
    });
    expect(await runMigrations(url)).toEqual(MIGRATIONS.slice(MIGRATIONS.findIndex((m) => m.name === 'CrlStorageAndRevocationIndexes1764400000000')).map((m) => new m().name));
  });

  it('refuses to update, delete or truncate audit events', async () => {
    const [event] = await query<{ id: string }>(
      url,
      `INSERT INTO audit_events (event_type, outcome, actor_type) VALUES ('test.event', 'success', 'system') RETURNING id`,
    );
    await expect(query(url, `UPDATE audit_events SET outcome = 'failed' WHERE id = $1`, [event.id])).rejects.toThrow(/append-only/);
    await expect(query(url, `DELETE FROM audit_events WHERE id = $1`, [event.id])).rejects.toThrow(/append-only/);
    await expect(query(url, `TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
    expect(await query(url, `SELECT outcome FROM audit_events WHERE id = $1`, [event.id])).toEqual([{ outcome: 'success' }]);
  });

  it('lets old audit events go only through purge_audit_events, past the retention', async () => {
    const old = async (days: number) =>
      (await query<{ id: string }>(url, `INSERT INTO audit_events (at, event_type, outcome, actor_type) VALUES (now() - make_interval(days => $1), 'retention.test', 'success', 'system') RETURNING id`, [days]))[0].id;
    const ancient = [await old(400), await old(500), await old(600)];
    const recent = await old(100);
    const left = async () => (await query<{ id: string }>(url, `SELECT id FROM audit_events WHERE event_type = 'retention.test'`)).map((r) => r.id).sort();
    // An ad-hoc DELETE is refused, also of an old event, also with the cut-off set by hand for a fresh one.
    await expect(query(url, `DELETE FROM audit_events WHERE id = $1`, [ancient[0]])).rejects.toThrow(/append-only/);
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`SELECT set_config('signet.audit_purge_before', (now() + interval '1 day')::text, false)`);
      await expect(client.query(`DELETE FROM audit_events WHERE id = $1`, [recent])).rejects.toThrow(/append-only/);
    } finally {
      await client.end();
    }
    await expect(query(url, `SELECT purge_audit_events(0, 10)`)).rejects.toThrow(/at least 1 day/);

    expect(await query(url, `SELECT purge_audit_events(365, 2) AS n`)).toEqual([{ n: 2 }]);
    expect(await left()).toEqual([ancient[0], recent].sort());
    expect(await query(url, `SELECT purge_audit_events(365, 2) AS n`)).toEqual([{ n: 1 }]);
    expect(await query(url, `SELECT purge_audit_events(365, 2) AS n`)).toEqual([{ n: 0 }]);
    expect(await left()).toEqual([recent]);
    const purges = await query<{ details: { deleted: number; retentionDays: number } }>(url, `SELECT details FROM audit_events WHERE event_type = 'audit.purge' ORDER BY seq`);
    expect(purges.map((p) => p.details)).toEqual([expect.objectContaining({ deleted: 2, retentionDays: 365 }), expect.objectContaining({ deleted: 1, retentionDays: 365 })]);
    // The cut-off lasts only for the function's own work.
    await expect(query(url, `DELETE FROM audit_events WHERE id = $1`, [recent])).rejects.toThrow(/append-only/);
  });
});
