-- The database's "now" for the rules: the transaction's now() moved by the session setting
-- gridwatch.clock_offset (an interval). Production never sets it; the test suite sets it on
-- every connection to follow the Python clock it travels with (app/clock.py), so summaries
-- kept by triggers and queries agree with the server on what "now" is.
CREATE OR REPLACE FUNCTION gridwatch_now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT now() + coalesce(nullif(current_setting('gridwatch.clock_offset', true), '')::interval,
                            interval '0')
$$;
