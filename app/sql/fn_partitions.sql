-- Monthly partitions of the tables that grow with every report (migration 0013, docs/scale.md).
-- A table is split into a run of months with no gap, `<table>_YYYY_MM` (a calendar month in UTC
-- of its time column), and two edges that take everything else: `<table>_before` (from the
-- beginning of time to the oldest month) and `<table>_after` (from the month after the newest
-- on). Every instant has a partition, so an insert never fails for want of one (a back-dated
-- offline report, an import of past years, a phone clock far ahead), and there is no default
-- partition: with one, PostgreSQL cannot read the partitions in time order, and "the newest
-- patrol before t" (intake's previous patrol, the gaps of a past instant) would probe every
-- month instead of stopping at the first that has one. The tables, their time columns, how
-- many months ahead and the oldest month worth a partition are app/sql/partitions.py's.
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

-- The first instant (UTC) of `month`.
CREATE OR REPLACE FUNCTION gridwatch_month_start(month date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT date_trunc('month', month::timestamp) AT TIME ZONE 'UTC'
$$;

-- The partition of `parent` for `month`, made apart and then attached, with the rows of that
-- month taken out of `source` (a detached edge partition), if given. Its name.
CREATE OR REPLACE FUNCTION gridwatch_month_partition(parent regclass, key text, month date,
                                                     source text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    part text := (SELECT relname FROM pg_class WHERE oid = parent) || '_'
                 || to_char(month, 'YYYY_MM');
    lo timestamptz := gridwatch_month_start(month);
    hi timestamptz := gridwatch_month_start((month + interval '1 month')::date);
BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                   'INCLUDING STORAGE)', part, parent);
    IF source IS NOT NULL THEN
        EXECUTE format('INSERT INTO %I SELECT * FROM %I WHERE %I >= $1 AND %I < $2',
                       part, source, key, key) USING lo, hi;
        EXECUTE format('DELETE FROM %I WHERE %I >= $1 AND %I < $2', source, key, key)
            USING lo, hi;
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   parent, part, lo, hi);
    PERFORM gridwatch_partition_guards(parent, part);
    RETURN part;
END $$;

-- Every partition `parent` needs and has not, the names made (oldest first); none when
-- `parent` is not partitioned (a database before migration 0013). The run of months reaches
-- forward to `ahead` months after the current one (gridwatch_now(), UTC) and back to the
-- oldest of: the oldest month now, `since` (a bulk load of past months about to come), and
-- the oldest month with rows in the `_before` edge, but never before `oldest`. Lengthening the
-- run detaches the edge on that side a moment (which locks the table against every other use
-- until the transaction ends) and moves the rows of the new months out of it.
CREATE OR REPLACE FUNCTION gridwatch_partitions(parent regclass, key text, ahead integer,
                                                oldest date, since date DEFAULT NULL)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    base text := (SELECT relname FROM pg_class WHERE oid = parent);
    before text := base || '_before';
    after text := base || '_after';
    this_month date := date_trunc('month', gridwatch_now() AT TIME ZONE 'UTC')::date;
    first_month date;
    last_month date;
    want_first date;
    want_last date := (this_month + make_interval(months => ahead))::date;
    waiting date;
    month date;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = parent) <> 'p' THEN
        RETURN;
    END IF;
    IF since IS NOT NULL THEN
        since := greatest(date_trunc('month', since::timestamp)::date, oldest);
    END IF;
    SELECT min(to_date(right(c.relname, 7), 'YYYY_MM')),
           max(to_date(right(c.relname, 7), 'YYYY_MM'))
      INTO first_month, last_month
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = parent AND c.relname ~ ('^' || base || '_[0-9]{4}_[0-9]{2}$');

    IF first_month IS NULL THEN  -- a new partitioned table: its months and both edges
        want_first := least(this_month, since);
        FOR month IN SELECT generate_series(want_first::timestamp, want_last::timestamp,
                                            interval '1 month')::date
        LOOP
            RETURN NEXT gridwatch_month_partition(parent, key, month, NULL);
        END LOOP;
        EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (MINVALUE) TO (%L)',
                       before, parent, gridwatch_month_start(want_first));
        EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (MAXVALUE)',
                       after, parent,
                       gridwatch_month_start((want_last + interval '1 month')::date));
        PERFORM gridwatch_partition_guards(parent, before);
        PERFORM gridwatch_partition_guards(parent, after);
        RETURN NEXT before;
        RETURN NEXT after;
        RETURN;
    END IF;

    EXECUTE format('SELECT date_trunc(''month'', min(%I) AT TIME ZONE ''UTC'')::date FROM %I '
                   'WHERE %I >= $1', key, before, key)
        USING gridwatch_month_start(oldest) INTO waiting;
    want_first := least(first_month, waiting, since);
    -- The oldest month detached (operations.md, retention): `_before` takes its range over.
    IF want_first = first_month
       AND (SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c
             WHERE c.oid = to_regclass(quote_ident(before)))
           IS DISTINCT FROM format('FOR VALUES FROM (MINVALUE) TO (%L)',
                                   gridwatch_month_start(first_month)) THEN
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %I', parent, before);
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
                       parent, before, gridwatch_month_start(first_month));
    END IF;
    IF want_first < first_month THEN
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %I', parent, before);
        FOR month IN SELECT generate_series(want_first::timestamp,
                                            first_month - interval '1 month',
                                            interval '1 month')::date
        LOOP
            RETURN NEXT gridwatch_month_partition(parent, key, month, before);
        END LOOP;
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
                       parent, before, gridwatch_month_start(want_first));
    END IF;
    IF want_last > last_month THEN
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %I', parent, after);
        FOR month IN SELECT generate_series(last_month + interval '1 month',
                                            want_last::timestamp, interval '1 month')::date
        LOOP
            RETURN NEXT gridwatch_month_partition(parent, key, month, after);
        END LOOP;
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (MAXVALUE)',
                       parent, after,
                       gridwatch_month_start((want_last + interval '1 month')::date));
    END IF;
END $$;
