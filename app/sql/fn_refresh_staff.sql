-- Staffing of `cells` now, and until when that holds (SPEC §3: staffed while the cell has a
-- leader and a member or patroller — the duty sets of app/rules.py, read from
-- gridwatch_rules). Kept in cell_status by the duty triggers (trg_duties.sql).
CREATE OR REPLACE FUNCTION gridwatch_refresh_staff(cells bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO cell_status AS s (cell_id, has_leader, has_member, staff_until, updated_at)
    SELECT c.id,
           coalesce(bool_or(d.leads) FILTER (WHERE d.active), false),
           coalesce(bool_or(d.patrols) FILTER (WHERE d.active), false),
           least(min(d.valid_from) FILTER (WHERE d.valid_from > gridwatch_now()),
                 min(d.valid_to) FILTER (WHERE d.valid_to > gridwatch_now())),
           now()
      FROM (SELECT DISTINCT x AS id FROM unnest(cells) x WHERE x IS NOT NULL) c
     CROSS JOIN gridwatch_rule_values() r
      LEFT JOIN LATERAL (
          SELECT d.valid_from, d.valid_to,
                 d.duty = ANY (r.leader_duties) AS leads,
                 d.duty = ANY (r.member_duties) AS patrols,
                 (d.valid_from IS NULL OR d.valid_from <= gridwatch_now())
                 AND (d.valid_to IS NULL OR d.valid_to > gridwatch_now()) AS active
            FROM duties d WHERE d.cell_id = c.id) d ON true
     GROUP BY c.id
    ON CONFLICT (cell_id) DO UPDATE
       SET has_leader = excluded.has_leader, has_member = excluded.has_member,
           staff_until = excluded.staff_until, updated_at = now()
$$;
