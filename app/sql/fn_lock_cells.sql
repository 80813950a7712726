-- The protocol app/domain/status.py:lock_cell follows too: every writer of a summary first
-- holds the summary lock (7302, 0) shared, then each cell's lock (7301, cell) in cell order.
-- Many cells at once take the summary lock exclusively instead (a transaction can hold only
-- so many locks): no other writer is then between its locks.
CREATE OR REPLACE FUNCTION gridwatch_lock_cells(cells bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c bigint;
    distinct_cells bigint[] := ARRAY(SELECT DISTINCT x FROM unnest(cells) x
                                      WHERE x IS NOT NULL ORDER BY 1);
BEGIN
    IF cardinality(distinct_cells) > 256 THEN
        PERFORM pg_advisory_xact_lock(7302, 0);
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(7302, 0);
    FOREACH c IN ARRAY distinct_cells LOOP
        PERFORM pg_advisory_xact_lock(7301, ((c + 2147483648) % 4294967296 - 2147483648)::int);
    END LOOP;
END $$;
