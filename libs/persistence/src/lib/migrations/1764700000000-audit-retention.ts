import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Audit retention (issue 18, finding 6). The audit log stays append-only for every ad-hoc statement:
 * UPDATE, TRUNCATE and a plain DELETE are still refused by the trigger. Old events leave through one
 * sanctioned path, `purge_audit_events(retention_days, max_rows)` (SECURITY DEFINER), which the signer's
 * retention sweep calls with AUDIT_RETENTION_DAYS: it deletes at most `max_rows` events older than the
 * retention, oldest first, and records what it did as an `audit.purge` event in the same transaction.
 *
 * The trigger lets a DELETE through only when it comes from inside that function (the call stack says
 * so), for a row older than the cut-off the function sets for its own work (`signet.audit_purge_before`),
 * and never for a row younger than a day: setting the cut-off by hand deletes nothing.
 */
export class AuditRetention1764700000000 implements MigrationInterface {
  name = 'AuditRetention1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        purge_before text := current_setting('signet.audit_purge_before', true);
        caller text;
      BEGIN
        IF TG_OP = 'DELETE' AND coalesce(purge_before, '') <> '' THEN
          GET DIAGNOSTICS caller = PG_CONTEXT;
          IF caller LIKE '%function purge_audit_events(integer,integer) %'
             AND OLD.at < purge_before::timestamptz AND OLD.at < now() - interval '1 day' THEN
            RETURN OLD;
          END IF;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE FUNCTION purge_audit_events(retention_days int, max_rows int) RETURNS int
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
      DECLARE
        cutoff timestamptz;
        deleted int;
      BEGIN
        IF retention_days IS NULL OR retention_days < 1 THEN
          RAISE EXCEPTION 'audit retention is at least 1 day (got %)', retention_days USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF max_rows IS NULL OR max_rows < 1 THEN
          RAISE EXCEPTION 'max_rows must be positive (got %)', max_rows USING ERRCODE = 'invalid_parameter_value';
        END IF;
        cutoff := now() - make_interval(days => retention_days);
        PERFORM set_config('signet.audit_purge_before', cutoff::text, true);
        DELETE FROM audit_events WHERE seq IN (SELECT seq FROM audit_events WHERE at < cutoff ORDER BY at LIMIT max_rows);
        GET DIAGNOSTICS deleted = ROW_COUNT;
        PERFORM set_config('signet.audit_purge_before', '', true);
        IF deleted > 0 THEN
          INSERT INTO audit_events (event_type, outcome, actor_type, actor_name, details)
          VALUES ('audit.purge', 'success', 'system', 'audit-retention',
                  jsonb_build_object('deleted', deleted, 'before', cutoff, 'retentionDays', retention_days));
        END IF;
        RETURN deleted;
      END $$`);
    await q.query(`REVOKE ALL ON FUNCTION purge_audit_events(int, int) FROM PUBLIC`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION purge_audit_events(int, int)`);
    await q.query(`
      CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
  }
}
