"""How a transaction with audit entries ends (app/domain/audit.py appends them): the deferred
commit-time work settled first, then the chain's append and COMMIT, sent to PostgreSQL in one
round trip, so that the chain's one-row lock is held for the append and
the COMMIT alone."""

from __future__ import annotations

import psycopg
from sqlalchemy import Connection, exc

# The head made when missing (the first entry ever, or after tests emptied the tables), sent
# ahead of the append in the same round trip. A plain read decides it: once the head exists
# this inserts nothing and so never waits for a transaction holding the head (an INSERT's
# conflict check would).
START_CHAIN_IF_MISSING = """
    INSERT INTO audit_head (id, seq, hash)
    SELECT 1, 0, %(genesis)s WHERE NOT EXISTS (SELECT FROM audit_head WHERE id = 1)
    ON CONFLICT DO NOTHING
"""
# The work PostgreSQL would do at COMMIT (deferred constraint triggers: the roll-up's
# recomputation, which locks the parents it touched) done now instead, before the chain's
# lock, so that the head is held for nothing but the append and the COMMIT itself.
SETTLE = "SET CONSTRAINTS ALL IMMEDIATE"


def commit_appending(conn: Connection, append: str, entries: str, genesis: str) -> int:
    """Settle the commit-time work, append `entries` with `append` (app/domain/audit.py's
    one-statement append; its one parameter is `entries`), and COMMIT, all sent in one
    round trip (psycopg's pipeline mode): the chain's lock
    is taken by the transaction's last statement and released by the COMMIT already waiting
    behind it, never held across a trip to this process. The session's own
    COMMIT, which follows, then has nothing left to do. Returns the last sequence number
    appended."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    try:
        with raw.cursor() as cur:
            with raw.pipeline():
                raw.execute(SETTLE)
                raw.execute(START_CHAIN_IF_MISSING, {"genesis": genesis})
                cur.execute(append, {"entries": entries})
                raw.commit()
            row = cur.fetchone()
    except psycopg.Error as err:  # as SQLAlchemy would raise it (the API maps those)
        raise exc.DBAPIError.instance(append, None, err, psycopg.Error) from err
    assert row is not None, "the chain's head was missing at commit"
    return int(row[0])
