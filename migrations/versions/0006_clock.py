"""One clock for the rules: `gridwatch_now()` (the transaction's now(), moved by the session
setting gridwatch.clock_offset, which only the test suite sets) replaces now() where a
summary depends on the current instant: the staffing summary's "active now" and "valid
until". The bodies are this migration's own (as they were then); app/sql/fn_clock.sql and
fn_refresh_staff.sql carry them on and are re-created from there (migration 0009).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLOCK = """
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
"""

STAFF = """
-- Staffing of `cells` now, and until when that holds (SPEC §3: unstaffed while no leader,
-- or no member/patroller). Kept in cell_status by the duty triggers of migration 0005.
CREATE OR REPLACE FUNCTION gridwatch_refresh_staff(cells bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO cell_status AS s (cell_id, has_leader, has_member, staff_until, updated_at)
    SELECT c.id,
           coalesce(bool_or(d.duty = 'leader') FILTER (WHERE d.active), false),
           coalesce(bool_or(d.duty IN ('member', 'patroller')) FILTER (WHERE d.active), false),
           least(min(d.valid_from) FILTER (WHERE d.valid_from > gridwatch_now()),
                 min(d.valid_to) FILTER (WHERE d.valid_to > gridwatch_now())),
           now()
      FROM (SELECT DISTINCT x AS id FROM unnest(cells) x WHERE x IS NOT NULL) c
      LEFT JOIN LATERAL (
          SELECT d.duty, d.valid_from, d.valid_to,
                 (d.valid_from IS NULL OR d.valid_from <= gridwatch_now())
                 AND (d.valid_to IS NULL OR d.valid_to > gridwatch_now()) AS active
            FROM duties d WHERE d.cell_id = c.id) d ON true
     GROUP BY c.id
    ON CONFLICT (cell_id) DO UPDATE
       SET has_leader = excluded.has_leader, has_member = excluded.has_member,
           staff_until = excluded.staff_until, updated_at = now()
$$;
"""


def upgrade() -> None:
    op.execute(CLOCK)
    op.execute(STAFF)


def downgrade() -> None:
    op.execute(STAFF.replace("gridwatch_now()", "now()"))
    op.execute("DROP FUNCTION gridwatch_now(); DROP FUNCTION gridwatch_clock_offset()")
