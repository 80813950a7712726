-- The database's clock for the rules: now() (the transaction's start) and clock_timestamp()
-- (this instant) moved by the session setting gridwatch.clock_offset, an interval.
-- Production never sets it; the test suite sets it on every connection to follow the Python
-- clock it travels with (app/clock.py), so summaries kept by triggers, audit entries and
-- queries agree with the server on what "now" is.
CREATE OR REPLACE FUNCTION gridwatch_clock_offset() RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(nullif(current_setting('gridwatch.clock_offset', true), '')::interval,
                    interval '0')
$$;

CREATE OR REPLACE FUNCTION gridwatch_now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT now() + gridwatch_clock_offset()
$$;
