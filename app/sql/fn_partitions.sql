-- Monthly partitions of the tables that grow with every report (migration 0013, docs/scale.md):
-- `<table>_YYYY_MM` holds one calendar month (UTC) of the table's time column; `<table>_default`
-- holds whatever arrives for a month that has no partition yet (a back-dated offline report,
-- an import of past years, a phone clock far ahead), so an insert never fails for want of a
-- partition. The tables, their time columns and how many months ahead are app/sql/partitions.py's.
-- These functions run as the tables' owner (`gridwatch migrate`, `gridwatch db partitions`);
-- the app role may not create tables and never calls them.

-- The parent's statement-level TRUNCATE triggers (audit_log's append-only guard), given to
-- one of its partitions: PostgreSQL clones row triggers to partitions, not statement ones, and
-- a partition can be truncated by its own name.
CREATE OR REPLACE FUNCTION gridwatch_partition_guards(parent regclass, part text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    trg record;
BEGIN
    FOR trg IN SELECT t.tgname, t.tgfoid::regproc AS fn FROM pg_trigger t
                WHERE t.tgrelid = parent AND NOT t.tgisinternal AND t.tgtype & 32 <> 0
                ORDER BY t.tgname LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION %s()', trg.tgname, part, trg.fn);
    END LOOP;
END $$;

-- The partition of `parent` for the month starting `month`, made if missing (NULL when it was
-- there). Made apart and then attached (attaching locks the parent only against other schema
-- changes, not against reads and writes); rows of that month waiting in the default partition
-- move into it first. Moving needs the default partition detached a moment (the append-only
-- guard of audit_log refuses DELETE on every partition) and locks the table meanwhile: it
-- happens only when such rows exist.
CREATE OR REPLACE FUNCTION gridwatch_month_partition(parent regclass, key text, month date)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    base text := (SELECT relname FROM pg_class WHERE oid = parent);
    part text := base || '_' || to_char(month, 'YYYY_MM');
    fallback text := base || '_default';
    lo timestamptz := date_trunc('month', month)::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (date_trunc('month', month) + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    waiting boolean;
BEGIN
    IF to_regclass(quote_ident(part)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                   'INCLUDING STORAGE)', part, parent);
    IF to_regclass(quote_ident(fallback)) IS NULL THEN
        waiting := false;
    ELSE
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)',
                       fallback, key, key) USING lo, hi INTO waiting;
    END IF;
    IF waiting THEN
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %I', parent, fallback);
        EXECUTE format('INSERT INTO %I SELECT * FROM %I WHERE %I >= $1 AND %I < $2',
                       part, fallback, key, key) USING lo, hi;
        EXECUTE format('DELETE FROM %I WHERE %I >= $1 AND %I < $2', fallback, key, key)
            USING lo, hi;
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   parent, part, lo, hi);
    IF waiting THEN
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I DEFAULT', parent, fallback);
    END IF;
    PERFORM gridwatch_partition_guards(parent, part);
    RETURN part;
END $$;

-- Every partition `parent` needs and has not: its default partition, the months from the
-- current one (gridwatch_now(), UTC) to `ahead` months later, and each month up to then that
-- has rows waiting in the default partition (those rows move in). Months further ahead stay in
-- the default partition until they come near. The names made, oldest first; none when
-- `parent` is not partitioned (a database before migration 0013).
CREATE OR REPLACE FUNCTION gridwatch_partitions(parent regclass, key text, ahead integer)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    base text := (SELECT relname FROM pg_class WHERE oid = parent);
    fallback text := base || '_default';
    this_month date := date_trunc('month', gridwatch_now() AT TIME ZONE 'UTC')::date;
    last_month date := (this_month + make_interval(months => ahead))::date;
    month date;
    made text;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = parent) <> 'p' THEN
        RETURN;
    END IF;
    IF to_regclass(quote_ident(fallback)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %s DEFAULT', fallback, parent);
        PERFORM gridwatch_partition_guards(parent, fallback);
        RETURN NEXT fallback;
    END IF;
    FOR month IN EXECUTE format(
        'SELECT DISTINCT date_trunc(''month'', %I AT TIME ZONE ''UTC'')::date FROM %I '
        'WHERE %I < $1 UNION SELECT generate_series($2, $3, interval ''1 month'')::date '
        'ORDER BY 1', key, fallback, key)
        USING (last_month + interval '1 month')::timestamp AT TIME ZONE 'UTC',
              this_month::timestamp, last_month::timestamp
    LOOP
        made := gridwatch_month_partition(parent, key, month);
        IF made IS NOT NULL THEN
            RETURN NEXT made;
        END IF;
    END LOOP;
END $$;
