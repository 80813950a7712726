-- The role the server connects as in production (docs/operations.md): rows only. It reads and
-- writes every table's rows, but owns nothing, so it cannot drop, alter or truncate a table,
-- nor disable the append-only triggers of the audit log and its checkpoints; on those two it
-- may only read and append; on a monthly partition by its own name, nothing. Re-applied by
-- every `gridwatch migrate` (app/migrate.py), so tables added later are granted too. Skipped,
-- with a notice, when the role does not exist and the migrating role may not create roles.
-- Give it a login (or a login role member of it) once: ALTER ROLE gridwatch_app LOGIN
-- PASSWORD '…'.
DO $app_role$
DECLARE
    part regclass;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridwatch_app') THEN
        IF NOT (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            RAISE NOTICE 'role gridwatch_app not created: the migrating role may not create roles';
            RETURN;
        END IF;
        BEGIN
            CREATE ROLE gridwatch_app NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by a migration of another database on this server
        END;
    END IF;
    IF current_user = 'gridwatch_app' THEN
        RETURN;  -- a deployment migrating as the app role itself: nothing to hand out
    END IF;
    EXECUTE 'GRANT CONNECT, TEMPORARY ON DATABASE ' || quote_ident(current_database())
        || ' TO gridwatch_app';
    GRANT USAGE ON SCHEMA public TO gridwatch_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO gridwatch_app;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO gridwatch_app;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO gridwatch_app;
    REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES
        ON audit_log, audit_checkpoints FROM gridwatch_app;
    REVOKE TRUNCATE, TRIGGER, REFERENCES ON ALL TABLES IN SCHEMA public FROM gridwatch_app;
    -- The monthly partitions (app/sql/partitions.py) are read and written through their table
    -- alone: no rights on a partition itself, as for those `gridwatch db partitions` makes
    -- later (made by the owner, they grant nothing).
    FOR part IN SELECT c.oid::regclass FROM pg_class c
                 WHERE c.relnamespace = 'public'::regnamespace AND c.relispartition
                   AND c.relkind IN ('r', 'p') LOOP
        EXECUTE 'REVOKE ALL ON ' || part::text || ' FROM gridwatch_app';
    END LOOP;
END
$app_role$;
