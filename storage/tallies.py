"""The SQL behind the tallies: patrol-rate counts per assignment, problem figures, volunteer activity.

Every query aggregates inside SQLite and hands back one row per assignment, per (area, category) or per
volunteer, never one per patrol or problem: on a city-scale store (20,000 chiefs, 2,000,000 patrols) the
rows crossing into Python stay in the tens of thousands. What counts as a period, when it starts and ends in
local time, and which rule applies is decided by the caller (`bot.tallies`); this module only counts.
Migration 0006 adds the indexes these queries seek in.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from storage.dbtime import to_db_time
from storage.engine import Dialect

if TYPE_CHECKING:
    from storage.store import Store


@dataclass(frozen=True, slots=True)
class Window:
    """One required period of one kind: patrols started in [start, end) count for it, and an assignment answers
    for it when it is active on `active_on` (the period's last day for the rate; today for current progress)."""

    kind: str
    active_on: date
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive


@dataclass(frozen=True, slots=True)
class AssignmentCount:
    """One assignment's patrol figures over the windows it answers for."""

    assignment_id: int
    person_id: int
    person_name: str
    level: str
    reach_id: int
    reach_code: str
    reach_name_zh: str
    reach_name_en: str
    area_id: int
    area_code: str
    area_name_zh: str
    area_name_en: str
    starts_on: date
    ends_on: date | None
    kind: str  # the period of the rule in force
    count: int  # patrols required per period
    periods: int  # windows it answers for
    done: int  # Σ min(valid patrols in the window, count)
    required: int  # Σ count
    patrols: int  # Σ valid patrols in those windows, not capped


@dataclass(frozen=True, slots=True)
class ProblemGroup:
    """Problem figures of one category in one area (definitions in `bot.tallies.ProblemFigures`), and, when
    asked for, of one value of a further split (`SPLITS`: the assignee, or who reported it)."""

    area_id: int
    category: str
    new: int = 0
    closed: int = 0
    dismissed: int = 0
    open: int = 0
    overdue: int = 0
    due: int = 0
    closed_on_time: int = 0
    split: str = ""
    overdue_days: int = 0  # Σ days each overdue problem was past its deadline at the end of the range
    overdue_days_max: int = 0


# The further splits of `problem_groups`, as SQL on the problem row `p`: the chief it is assigned to now ("" when
# none), who reported it, the problem itself, and whether its reporter is a chief, a volunteer (and no chief) or
# anyone else (the office, a citizen).
SPLITS = {
    "assignee": "COALESCE(CAST(p.assignee_id AS TEXT), '')",
    "reporter_id": "CAST(p.reporter_id AS TEXT)",
    "problem": "CAST(p.id AS TEXT)",
    "reporter": (
        "CASE WHEN EXISTS (SELECT 1 FROM person_roles o WHERE o.person_id = p.reporter_id AND o.role = 'chief')"
        " THEN 'chief' WHEN EXISTS (SELECT 1 FROM person_roles o WHERE o.person_id = p.reporter_id"
        " AND o.role = 'volunteer') THEN 'volunteer' ELSE 'other' END"
    ),
}


@dataclass(frozen=True, slots=True)
class VolunteerCount:
    person_id: int
    name: str
    patrols: int  # finished patrols started in the range
    valid_patrols: int
    reports: int  # problems reported in the range


# One correlated count per (assignment, required period), each a seek in the index patrols_valid. The windows
# are MATERIALIZED so their JSON is read once, not once per use, and so are the counts, which are used twice
# (capped and uncapped): on a city-scale store a year takes under a second instead of more than two.
# The rules and windows arrive as JSON arrays of arrays: SQLite reads them with json_each, PostgreSQL with
# jsonb_array_elements.
_ASSIGNMENT_INPUTS = {
    "sqlite": """
rules(level, n, kind) AS (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
    FROM json_each(:rules)
),
windows(kind, active_on, s, e) AS MATERIALIZED (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
           json_extract(value, '$[3]')
    FROM json_each(:windows)
),""",
    "postgresql": """
rules(level, n, kind) AS (
    SELECT value->>0, CAST(value->>1 AS BIGINT), value->>2 FROM jsonb_array_elements(CAST(:rules AS jsonb))
),
windows(kind, active_on, s, e) AS MATERIALIZED (
    SELECT value->>0, value->>1, value->>2, value->>3 FROM jsonb_array_elements(CAST(:windows AS jsonb))
),""",
}

# Pairs [[a, b], ...] passed as one JSON parameter, read as rows (a, b).
_PAIRS = {
    "sqlite": "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each({param})",
    "postgresql": "SELECT value->>0, value->>1 FROM jsonb_array_elements(CAST({param} AS jsonb))",
}

# SQLite's CROSS JOIN keeps the volunteers outside the loop (its planner takes the hint); PostgreSQL plans the
# order itself and has no CROSS JOIN ... ON.
_OUTER_FIRST = {"sqlite": "CROSS JOIN", "postgresql": "JOIN"}

# The volunteers' finished patrols started in [:s, :e) (`pat`: per volunteer, or per area and volunteer), a seek
# per volunteer in patrols_person. SQLite takes CROSS JOIN as the order. PostgreSQL, left to plan a join, scans
# every patrol of the range (a province's year: 3 million rows, for the volunteers' 120,000), so the seek is
# spelled out as a LATERAL subquery, which it can only run once per volunteer.
_VOLUNTEER_PATROLS = {
    "sqlite": (
        " pat AS (SELECT t.person_id, count(*) AS n, count(*) FILTER (WHERE t.valid = 1) AS ok FROM vol"
        "  CROSS JOIN patrols t ON t.person_id = vol.person_id"
        "  WHERE t.status = 'finished' AND t.started_at >= :s AND t.started_at < :e{on_reach}"
        "  GROUP BY t.person_id),"
    ),
    "postgresql": (
        " pat AS (SELECT vol.person_id, x.n, x.ok FROM vol CROSS JOIN LATERAL ("
        "  SELECT count(*) AS n, count(*) FILTER (WHERE t.valid = 1) AS ok FROM patrols t"
        "  WHERE t.person_id = vol.person_id AND t.status = 'finished' AND t.started_at >= :s"
        "   AND t.started_at < :e{on_reach}) x WHERE x.n > 0),"
    ),
}
_VOLUNTEER_PATROLS_BY_AREA = {
    "sqlite": (
        " pat AS (SELECT r.area_id, t.person_id, count(*) AS n, count(*) FILTER (WHERE t.valid = 1) AS ok FROM vol"
        "  CROSS JOIN patrols t ON t.person_id = vol.person_id JOIN reaches r ON r.id = t.reach_id"
        "  WHERE t.status = 'finished' AND t.started_at >= :s AND t.started_at < :e GROUP BY 1, 2),"
    ),
    "postgresql": (
        " pat AS (SELECT x.area_id, vol.person_id, x.n, x.ok FROM vol CROSS JOIN LATERAL ("
        "  SELECT r.area_id, count(*) AS n, count(*) FILTER (WHERE t.valid = 1) AS ok FROM patrols t"
        "  JOIN reaches r ON r.id = t.reach_id"
        "  WHERE t.person_id = vol.person_id AND t.status = 'finished' AND t.started_at >= :s AND t.started_at < :e"
        "  GROUP BY r.area_id) x),"
    ),
}


def json_text(dialect: Dialect, column: str, key: str) -> str:
    """A top-level field of a JSON object stored as text, as text (NULL when absent)."""
    if dialect == "postgresql":
        return f"(CAST({column} AS jsonb)->>'{key}')"
    return f"CAST(json_extract({column}, '$.{key}') AS TEXT)"


def julian_day(dialect: Dialect, value: str) -> str:
    """`julianday(value)` as SQL, to the last bit the same on both engines. PostgreSQL's julianday() (the
    baseline's) parses all of SQLite's forms with a regular expression, in a function the planner cannot inline:
    a call costs some 100 µs, 30 s over a province's year of closed problems. A time as the store writes it
    (`storage.dbtime.to_db_time`) or a date is read here by position, checked digit by digit and field by field
    as julianday() checks them, with the same arithmetic (milliseconds since the Julian epoch, divided); anything
    else still goes to julianday(). No regular expression: one costs more than all the rest."""
    if dialect == "sqlite":
        return f"julianday({value})"

    def text(start: int, length: int) -> str:
        return f"substr({value}, {start}, {length})"

    def number(start: int, length: int) -> str:
        return f"CAST({text(start, length)} AS INTEGER)"

    stored = (
        f"translate({value}, '0123456789', '0000000000') IN ('0000-00-00T00:00:00Z', '0000-00-00')"
        f" AND {text(1, 4)} >= '0001' AND {text(6, 2)} BETWEEN '01' AND '12' AND {text(9, 2)} BETWEEN '01' AND '31'"
        f" AND {text(12, 2)} <= '24' AND {text(15, 2)} <= '59' AND {text(18, 2)} <= '59'"
    )
    # A day past the month's end rolls over, as in julianday(): the month's first day, then the days added.
    day = f"CAST(make_date({number(1, 4)}, {number(6, 2)}, 1) - DATE '1970-01-01' + {number(9, 2)} - 1 AS BIGINT)"
    clock = (
        f"CASE WHEN length({value}) > 10"
        f" THEN {number(12, 2)} * 3600000 + {number(15, 2)} * 60000 + {number(18, 2)} * 1000 ELSE 0 END"
    )
    return (
        f"(CASE WHEN {stored} THEN CAST(210866760000000 + {day} * 86400000 + {clock} AS DOUBLE PRECISION)"
        f" / 86400000.0 ELSE julianday({value}) END)"
    )


# Each assignment's figures (`per`: periods, done, required, patrols by assignment id), side by side.
_ASSIGNMENT_FIGURES = {
    # SQLite: one seek in patrols_valid per (assignment, window), the count taken in place; a seek costs it little.
    "sqlite": """
counted AS MATERIALIZED (
    SELECT a.id, a.n,
           (SELECT count(*) FROM patrols p
            WHERE p.person_id = a.person_id AND p.reach_id = a.reach_id AND p.status = 'finished' AND p.valid = 1
              AND p.started_at >= w.s AND p.started_at < w.e{assisted}) AS k
    FROM scope a JOIN windows w
      ON w.kind = a.kind AND w.active_on >= a.starts_on AND (a.ends_on IS NULL OR w.active_on <= a.ends_on)
),
per AS (
    SELECT id, count(*) AS periods, sum(CASE WHEN k < n THEN k ELSE n END) AS done, sum(n) AS required,
           sum(k) AS patrols
    FROM counted GROUP BY id
)""",
    # PostgreSQL: a correlated count costs it an executor start each, and a year has millions of (assignment,
    # window) pairs (a province: 100,000 assignments by some 30 windows). So one range scan of patrols_valid per
    # assignment over all the windows of its kind (LATERAL: a seek per assignment, whatever the planner
    # estimates), each patrol put in its window by one binary search (width_bucket) over the kind's bounds: the
    # windows' starts, and an end where no window starts (a gap, whose day is NULL: counted nowhere). The windows
    # of one kind do not overlap (`assignment_counts` checks). OFFSET 0 keeps the window's test out of the scan:
    # once per window, not once per patrol. The periods an assignment answers for depend only
    # on its kind and its dates: counted once per distinct (kind, starts_on, ends_on), a few thousand. The sums are
    # cast back to BIGINT: a numeric costs the driver a text conversion each, two per assignment.
    "postgresql": """
kinds AS MATERIALIZED (
    SELECT kind, min(bound) AS lo, max(bound) AS hi, array_agg(bound ORDER BY bound) AS bounds,
           array_agg(day ORDER BY bound) AS days
    FROM (
        SELECT kind, s AS bound, active_on AS day FROM windows
        UNION ALL
        SELECT w.kind, w.e, NULL FROM windows w
        WHERE NOT EXISTS (SELECT 1 FROM windows v WHERE v.kind = w.kind AND v.s = w.e)
    ) b
    GROUP BY kind
),
spans AS MATERIALIZED (
    SELECT t.kind, t.starts_on, t.ends_on, count(*) AS periods
    FROM (SELECT DISTINCT kind, starts_on, COALESCE(ends_on, '') AS ends_on FROM scope) t
    JOIN windows w
      ON w.kind = t.kind AND w.active_on >= t.starts_on AND (t.ends_on = '' OR w.active_on <= t.ends_on)
    GROUP BY t.kind, t.starts_on, t.ends_on
),
per AS (
    SELECT a.id, sp.periods, sp.periods * a.n AS required, x.done, x.patrols
    FROM scope a
    JOIN spans sp ON sp.kind = a.kind AND sp.starts_on = a.starts_on AND sp.ends_on = COALESCE(a.ends_on, '')
    JOIN kinds b ON b.kind = a.kind
    CROSS JOIN LATERAL (
        SELECT CAST(sum(CASE WHEN g.k < a.n THEN g.k ELSE a.n END) AS BIGINT) AS done,
               CAST(sum(g.k) AS BIGINT) AS patrols
        FROM (
            SELECT width_bucket(p.started_at, b.bounds) AS i, count(*) AS k FROM patrols p
            WHERE p.person_id = a.person_id AND p.reach_id = a.reach_id AND p.status = 'finished' AND p.valid = 1
              AND p.started_at >= b.lo AND p.started_at < b.hi{assisted}
            GROUP BY 1 OFFSET 0
        ) g
        WHERE b.days[g.i] >= a.starts_on AND (a.ends_on IS NULL OR b.days[g.i] <= a.ends_on)
    ) x
)""",
}

_ASSIGNMENT_WITH = """
WITH{inputs}
scope AS (
    SELECT s.id, s.person_id, s.reach_id, s.level, s.starts_on, s.ends_on,
           COALESCE(s.patrol_period, r.kind) AS kind, COALESCE(s.patrol_count, r.n) AS n
    FROM assignments s LEFT JOIN rules r ON r.level = s.level
    WHERE s.starts_on <= :last_active AND (s.ends_on IS NULL OR s.ends_on >= :first_active) {where}
),{figures}"""

_ASSIGNMENT_SELECT = """
SELECT a.id, a.person_id, pe.name AS person_name, a.level, a.reach_id, rc.code AS reach_code,
       rc.name_zh AS reach_name_zh, rc.name_en AS reach_name_en, ar.id AS area_id, ar.code AS area_code,
       ar.name_zh AS area_name_zh, ar.name_en AS area_name_en, a.starts_on, a.ends_on, a.kind, a.n,
       COALESCE(per.periods, 0) AS periods, COALESCE(per.done, 0) AS done,
       COALESCE(per.required, 0) AS required, COALESCE(per.patrols, 0) AS patrols
FROM scope a
JOIN people pe ON pe.id = a.person_id
JOIN reaches rc ON rc.id = a.reach_id
JOIN areas ar ON ar.id = rc.area_id
LEFT JOIN per ON per.id = a.id
ORDER BY ar.code, rc.code, a.id
"""


# Each area's sums of the same figures, for when only those are wanted (the week before's comparison): a row per
# area instead of one per assignment, a hundred thousand fewer for a province to send and convert.
_AREA_SUMS_SELECT = """
SELECT rc.area_id, CAST(COALESCE(sum(per.done), 0) AS BIGINT) AS done,
       CAST(COALESCE(sum(per.required), 0) AS BIGINT) AS required,
       CAST(COALESCE(sum(per.periods), 0) AS BIGINT) AS periods
FROM scope a
JOIN reaches rc ON rc.id = a.reach_id
LEFT JOIN per ON per.id = a.id
GROUP BY rc.area_id
"""


def _check_windows(windows: Sequence[Window]) -> None:
    """Windows of one kind must not overlap (periods of a kind follow each other): a patrol counts in one of
    them at most, which PostgreSQL's statement relies on."""
    by_kind: dict[str, list[Window]] = {}
    for window in windows:
        by_kind.setdefault(window.kind, []).append(window)
    for kind, of_kind in by_kind.items():
        of_kind.sort(key=lambda w: w.start)
        for before, after in itertools.pairwise(of_kind):
            if after.start < before.end:
                raise ValueError(f"{kind} windows overlap: {before.start}–{before.end} and {after.start}")


class Tallies:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def assignment_counts(
        self,
        windows: Sequence[Window],
        rules: Mapping[str, tuple[int, str]],
        *,
        active_from: date,
        active_to: date,
        area_id: int | None = None,
        person_id: int | None = None,
        windowed_only: bool = False,
        assisted: bool = True,
    ) -> list[AssignmentCount]:
        """Every assignment active on some day of [active_from, active_to] (in the area, of the person), with its
        figures over the windows of its rule's kind on whose `active_on` day it is active (none: zeros).

        `rules` maps a level to (count, period kind); an assignment's own rule, when it has one, wins. With
        `windowed_only`, assignments whose kind has no window are left out instead of given zeros: a city's
        weekly village chiefs when only the running months and quarters are asked for. Without `assisted`, a
        patrol an assistant walked for the chief (`walked_by`) is not counted (ASSISTANT_PATROLS_COUNT=false).
        """
        sql, params = self._assignment_query(
            windows,
            rules,
            active_from=active_from,
            active_to=active_to,
            area_id=area_id,
            person_id=person_id,
            windowed_only=windowed_only,
            assisted=assisted,
        )
        rows = await self._store.fetchall(sql + _ASSIGNMENT_SELECT, params)
        # A province's year is 100,000 rows, and the weekly job asks for several such: their texts are the same
        # few areas, levels and kinds, and the same reaches and chiefs from one call to the next, kept once each
        # (interned) instead of once a row, and so are the start days; each row is let go once converted, so that
        # the rows and the counts are not both held whole.
        # The names and codes are NOT NULL columns; only the kind may be NULL (a level with no rule).
        days: dict[str, date] = {}
        one = sys.intern

        def maybe(value: Any) -> Any:
            return value if value is None else one(value)

        def day(text: str) -> date:
            found = days.get(text)
            if found is None:
                found = days[text] = date.fromisoformat(text)
            return found

        counts = []
        rows.reverse()
        while rows:
            r = rows.pop()
            counts.append(
                AssignmentCount(
                    assignment_id=r["id"],
                    person_id=r["person_id"],
                    person_name=one(r["person_name"]),
                    level=one(r["level"]),
                    reach_id=r["reach_id"],
                    reach_code=one(r["reach_code"]),
                    reach_name_zh=one(r["reach_name_zh"]),
                    reach_name_en=one(r["reach_name_en"]),
                    area_id=r["area_id"],
                    area_code=one(r["area_code"]),
                    area_name_zh=one(r["area_name_zh"]),
                    area_name_en=one(r["area_name_en"]),
                    starts_on=day(r["starts_on"]),
                    ends_on=day(r["ends_on"]) if r["ends_on"] else None,
                    kind=maybe(r["kind"]),
                    count=int(r["n"]),
                    periods=int(r["periods"]),
                    done=int(r["done"]),
                    required=int(r["required"]),
                    patrols=int(r["patrols"]),
                )
            )
        return counts

    async def area_sums(
        self,
        windows: Sequence[Window],
        rules: Mapping[str, tuple[int, str]],
        *,
        active_from: date,
        active_to: date,
        assisted: bool = True,
    ) -> dict[int, tuple[int, int, int]]:
        """Each area's (done, required, periods), summed over the rows `assignment_counts` would give: areas with
        no assignment in scope are absent."""
        sql, params = self._assignment_query(
            windows, rules, active_from=active_from, active_to=active_to, assisted=assisted
        )
        rows = await self._store.fetchall(sql + _AREA_SUMS_SELECT, params)
        return {int(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows}

    def _assignment_query(
        self,
        windows: Sequence[Window],
        rules: Mapping[str, tuple[int, str]],
        *,
        active_from: date,
        active_to: date,
        area_id: int | None = None,
        person_id: int | None = None,
        windowed_only: bool = False,
        assisted: bool = True,
    ) -> tuple[str, dict[str, Any]]:
        """The statement's WITH part (every assignment's figures, as `per`) and its parameters."""
        _check_windows(windows)
        where = ""
        params: dict[str, Any] = {
            "rules": json.dumps([[level, count, kind] for level, (count, kind) in rules.items()]),
            "windows": json.dumps(
                [[w.kind, w.active_on.isoformat(), to_db_time(w.start), to_db_time(w.end)] for w in windows]
            ),
            "first_active": active_from.isoformat(),
            "last_active": active_to.isoformat(),
        }
        if area_id is not None:
            where += " AND s.reach_id IN (SELECT id FROM reaches WHERE area_id = :area)"
            params["area"] = area_id
        if person_id is not None:
            where += " AND s.person_id = :person"
            params["person"] = person_id
        if windowed_only:
            where += " AND COALESCE(s.patrol_period, r.kind) IN (SELECT kind FROM windows)"
        # Only when left out is walked_by read: counting them all stays a seek in the covering index.
        walked = "" if assisted else " AND p.walked_by IS NULL"
        dialect = self._store.dialect
        figures = _ASSIGNMENT_FIGURES[dialect].format(assisted=walked)
        sql = _ASSIGNMENT_WITH.format(inputs=_ASSIGNMENT_INPUTS[dialect], figures=figures, where=where)
        return sql, params

    async def problem_groups(
        self,
        *,
        start: datetime,
        end: datetime,
        first: date,
        last: date,
        day_ends: Sequence[tuple[date, datetime]],
        area_id: int | None = None,
        split: str | None = None,
    ) -> list[ProblemGroup]:
        """Problem figures per (area, category) for the local dates [first, last], which are the instants
        [start, end); `day_ends` gives, for each day in [first, last], the instant its local day ends. With
        `split` (a key of `SPLITS`), per (area, category, split value): the same figures cut finer, so they add
        up to the unsplit ones exactly.

        - new: reported in [start, end), whatever became of it;
        - closed / dismissed: status now closed / dismissed, closed_at in [start, end);
        - open: reported before `end`, and at `end` not closed or dismissed by the event log (the status of the
          last event before `end`; a problem with no events at all counts by its row);
        - overdue: open at `end` with a deadline before `last` (the deadline in force then: the last event
          before `end` that set one, else the row's);
        - due: deadline in [first, last] and not dismissed now; closed_on_time: of those, closed now and closed
          before its deadline day ended.

        Overdue problems also give their days past the deadline at the end of the range (`last` − deadline):
        summed and the longest.
        """
        s, e = to_db_time(start), to_db_time(end)
        area = "" if area_id is None else " AND p.area_id = :area"
        key = "''" if split is None else SPLITS[split]
        params: dict[str, Any] = {"s": s, "e": e, "first": first.isoformat(), "last": last.isoformat()}
        if area_id is not None:
            params["area"] = area_id
        groups: dict[tuple[int, str, str], dict[str, int]] = {}
        dialect = self._store.dialect
        deadline, new = (json_text(dialect, "v.data", name) for name in ("deadline", "new"))
        days_past = f"{julian_day(dialect, ':last')} - {julian_day(dialect, 'deadline_then')}"
        # PostgreSQL inlines a CTE used once, and then runs the correlated subqueries of `deadline_then` once for
        # each of its five uses: materialized, once a problem.
        materialized = "MATERIALIZED " if dialect == "postgresql" else ""

        def add(rows: Sequence[Any], *names: str) -> None:
            # Each row: area, category, split value, then the figures in the order of `names`.
            for row in rows:
                figures = groups.setdefault((int(row[0]), str(row[1]), str(row[2])), {})
                for index, name in enumerate(names, start=3):
                    value = int(row[index] or 0)
                    if name.endswith("_max"):
                        figures[name] = max(figures.get(name, 0), value)
                    else:
                        figures[name] = figures.get(name, 0) + value

        add(
            await self._store.fetchall(
                f"SELECT p.area_id, p.category, {key}, count(*) FROM problems p"
                f" WHERE p.reported_at >= :s AND p.reported_at < :e{area} GROUP BY 1, 2, 3",
                params,
            ),
            "new",
        )
        add(
            await self._store.fetchall(
                f"SELECT p.area_id, p.category, {key}, count(*) FILTER (WHERE p.status = 'closed'),"
                " count(*) FILTER (WHERE p.status = 'dismissed')"
                " FROM problems p"
                f" WHERE p.closed_at >= :s AND p.closed_at < :e AND p.status IN ('closed', 'dismissed'){area}"
                " GROUP BY 1, 2, 3",
                params,
            ),
            "closed",
            "dismissed",
        )
        # Open at the end of the range. Only problems open now, or closed/dismissed after the end, can be: one
        # closed before the end and still closed stayed closed (a reopen clears closed_at). For those few the
        # event log tells the status at the end, which also catches one closed in time and reopened later.
        add(
            await self._store.fetchall(
                "WITH found AS ("
                # Two index ranges (problems_open, problems_closed) instead of an OR over the whole table.
                " SELECT p.id FROM problems p WHERE p.status NOT IN ('closed', 'dismissed')"
                " UNION ALL"
                " SELECT p.id FROM problems p WHERE p.closed_at >= :e AND p.status IN ('closed', 'dismissed')),"
                f" candidates AS {materialized}("
                f" SELECT p.area_id, p.category, {key} AS split,"
                "  (SELECT v.to_status FROM problem_events v WHERE v.problem_id = p.id AND v.at < :e"
                "   AND v.to_status IS NOT NULL ORDER BY v.id DESC LIMIT 1) AS status_then,"
                # A grant stored by an older version names the new deadline `new` only: read it as `deadline`.
                f"  COALESCE((SELECT d.deadline FROM (SELECT v.id, COALESCE({deadline},"
                f"   CASE WHEN v.action = 'extension_granted' THEN {new} END) AS deadline"
                "   FROM problem_events v WHERE v.problem_id = p.id AND v.at < :e) d"
                "   WHERE d.deadline IS NOT NULL ORDER BY d.id DESC LIMIT 1), p.deadline) AS deadline_then"
                f" FROM found JOIN problems p ON p.id = found.id WHERE p.reported_at < :e{area})"
                # NULL < :last is NULL, which sum() skips: no deadline, not overdue.
                " SELECT area_id, category, split, count(*),"
                "  count(*) FILTER (WHERE deadline_then < :last),"
                f"  sum(CASE WHEN deadline_then < :last THEN {days_past} END),"
                f"  max(CASE WHEN deadline_then < :last THEN {days_past} END)"
                " FROM candidates"
                # No event before the end (data loaded from elsewhere keeps no log): it was reported, so open.
                " WHERE COALESCE(status_then, 'reported') IN ('reported', 'assigned', 'rectified')"
                " GROUP BY 1, 2, 3",
                params,
            ),
            "open",
            "overdue",
            "overdue_days",
            "overdue_days_max",
        )
        if day_ends:
            day_params = dict(params)
            day_params["days"] = json.dumps([[day.isoformat(), to_db_time(moment)] for day, moment in day_ends])
            add(
                await self._store.fetchall(
                    f"WITH days(day, ends) AS ({_PAIRS[self._store.dialect].format(param=':days')})"
                    f" SELECT p.area_id, p.category, {key}, count(*),"
                    "  count(*) FILTER (WHERE p.status = 'closed' AND p.closed_at < d.ends)"
                    " FROM problems p JOIN days d ON d.day = p.deadline"
                    f" WHERE p.deadline >= :first AND p.deadline <= :last AND p.status != 'dismissed'{area}"
                    " GROUP BY 1, 2, 3",
                    day_params,
                ),
                "due",
                "closed_on_time",
            )
        return [
            ProblemGroup(area_id=area_key, category=category, split=value, **figures)
            for (area_key, category, value), figures in sorted(groups.items())
        ]

    async def pressed_counts(
        self, *, start: datetime, end: datetime, area_id: int | None = None
    ) -> list[tuple[int, str, int, int]]:
        """Cases pressed by the office (events `pressed`) in [start, end): (area id, assignee id as text or ""
        when none, problem id, count) per problem and chief pressed, with the problem's area now. A press counts
        against whom it pressed (the event's `assignee`): a transfer since does not hand it to the new chief."""
        params: dict[str, Any] = {"s": to_db_time(start), "e": to_db_time(end)}
        area = ""
        if area_id is not None:
            area = " AND p.area_id = :area"
            params["area"] = area_id
        rows = await self._store.fetchall(
            # An event without `assignee` (none was written without it; data loaded from elsewhere may lack it)
            # counts against the assignee now.
            f"SELECT p.area_id, COALESCE({json_text(self._store.dialect, 'v.data', 'assignee')},"
            f" {SPLITS['assignee']}) AS pressed, p.id, count(*) FROM problem_events v"
            " JOIN problems p ON p.id = v.problem_id"
            f" WHERE v.action = 'pressed' AND v.at >= :s AND v.at < :e{area}"
            " GROUP BY p.id, pressed ORDER BY p.id, pressed",
            params,
        )
        return [(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]

    def _days_to_close(self) -> str:
        dialect = self._store.dialect
        return f"{julian_day(dialect, 'closed_at')} - {julian_day(dialect, 'reported_at')}"

    async def median_days_to_close(self, *, start: datetime, end: datetime, area_id: int | None = None) -> float | None:
        """Median of (closed_at − reported_at) in days over problems closed (status closed) in [start, end)."""
        params: dict[str, Any] = {"s": to_db_time(start), "e": to_db_time(end)}
        area = ""
        if area_id is not None:
            area = " AND area_id = :area"
            params["area"] = area_id
        days = self._days_to_close()
        value = await self._store.fetchval(
            f"WITH d AS (SELECT {days} AS days FROM problems"
            f" WHERE status = 'closed' AND closed_at >= :s AND closed_at < :e{area}),"
            " n AS (SELECT count(*) AS n FROM d)"
            " SELECT avg(days) FROM (SELECT days FROM d ORDER BY days"
            "  LIMIT 2 - (SELECT n FROM n) % 2"
            "  OFFSET (SELECT CASE WHEN n > 0 THEN (n - 1) / 2 ELSE 0 END FROM n)) AS middle",
            params,
        )
        return None if value is None else float(value)

    async def median_days_to_close_by_area(self, *, start: datetime, end: datetime) -> dict[int, float]:
        """`median_days_to_close` of every area with a problem closed in [start, end), from one query: a week closes
        hundreds of problems, not a query's worth per area. Same arithmetic as the SQL (the mean of the two middle
        values), so the figures are identical."""
        rows = await self._store.fetchall(
            f"SELECT area_id, {self._days_to_close()} FROM problems"
            " WHERE status = 'closed' AND closed_at >= :s AND closed_at < :e",
            {"s": to_db_time(start), "e": to_db_time(end)},
        )
        by_area: dict[int, list[float]] = {}
        for area_id, days in rows:
            by_area.setdefault(int(area_id), []).append(float(days))
        medians = {}
        for area_id, values in by_area.items():
            values.sort()
            middle = values[(len(values) - 1) // 2 : len(values) // 2 + 1]
            medians[area_id] = sum(middle) / len(middle)
        return medians

    async def volunteers_by_area(self, *, start: datetime, end: datetime) -> dict[int, list[VolunteerCount]]:
        """`volunteers(area_id=…)` for every area at once: a volunteer counts in each area whose reaches they
        patrolled or where they reported."""
        cross = _OUTER_FIRST[self._store.dialect]
        rows = await self._store.fetchall(
            "WITH vol AS (SELECT person_id FROM person_roles WHERE role = 'volunteer'),"
            + _VOLUNTEER_PATROLS_BY_AREA[self._store.dialect]
            + " rep AS (SELECT q.area_id, q.reporter_id AS person_id, count(*) AS n FROM vol"
            f"  {cross} problems q ON q.reporter_id = vol.person_id"
            "  WHERE q.reported_at >= :s AND q.reported_at < :e GROUP BY 1, 2),"
            " pairs AS (SELECT area_id, person_id FROM pat UNION SELECT area_id, person_id FROM rep)"
            " SELECT k.area_id, p.id, p.name, COALESCE(pat.n, 0) AS patrols, COALESCE(pat.ok, 0) AS ok,"
            "  COALESCE(rep.n, 0) AS reports"
            " FROM pairs k JOIN people p ON p.id = k.person_id"
            " LEFT JOIN pat ON pat.area_id = k.area_id AND pat.person_id = k.person_id"
            " LEFT JOIN rep ON rep.area_id = k.area_id AND rep.person_id = k.person_id"
            " ORDER BY k.area_id, COALESCE(pat.n, 0) + COALESCE(rep.n, 0) DESC, p.name, p.id",
            {"s": to_db_time(start), "e": to_db_time(end)},
        )
        result: dict[int, list[VolunteerCount]] = {}
        for r in rows:
            result.setdefault(int(r[0]), []).append(
                VolunteerCount(int(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]))
            )
        return result

    async def volunteers(self, *, start: datetime, end: datetime, area_id: int | None = None) -> list[VolunteerCount]:
        """People with the volunteer role who patrolled or reported in [start, end) (in the area), most active
        first."""
        cross = _OUTER_FIRST[self._store.dialect]
        params: dict[str, Any] = {"s": to_db_time(start), "e": to_db_time(end)}
        on_reach = on_area = ""
        if area_id is not None:
            on_reach = " AND t.reach_id IN (SELECT id FROM reaches WHERE area_id = :area)"
            on_area = " AND q.area_id = :area"
            params["area"] = area_id
        rows = await self._store.fetchall(
            "WITH vol AS (SELECT person_id FROM person_roles WHERE role = 'volunteer'),"
            # A seek per volunteer, not a scan of every patrol.
            + _VOLUNTEER_PATROLS[self._store.dialect].format(on_reach=on_reach)
            + " rep AS (SELECT q.reporter_id AS person_id, count(*) AS n FROM vol"
            f"  {cross} problems q ON q.reporter_id = vol.person_id"
            f"  WHERE q.reported_at >= :s AND q.reported_at < :e{on_area} GROUP BY q.reporter_id)"
            " SELECT p.id, p.name, COALESCE(pat.n, 0) AS patrols, COALESCE(pat.ok, 0) AS ok,"
            "  COALESCE(rep.n, 0) AS reports"
            " FROM vol JOIN people p ON p.id = vol.person_id"
            " LEFT JOIN pat ON pat.person_id = p.id LEFT JOIN rep ON rep.person_id = p.id"
            " WHERE pat.n IS NOT NULL OR rep.n IS NOT NULL"
            " ORDER BY COALESCE(pat.n, 0) + COALESCE(rep.n, 0) DESC, p.name, p.id",
            params,
        )
        return [VolunteerCount(int(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]
