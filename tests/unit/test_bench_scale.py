"""The scale benchmark's report: the province/city ratios, the memory ceiling and the workers' intake, judged line
by line."""

from __future__ import annotations

from typing import Any

from benchmarks.scale import (
    TARGET_PEAK_MB,
    TARGET_RATIO,
    Intake,
    best,
    fitted_cap,
    intake_verdict,
    lower_cap,
    shared_share,
    verdicts,
    worker_cap,
)


def figures(all_s: float, stats_s: float, peak_mb: float, **errors: str) -> dict[str, Any]:
    return {
        "areas": 165,
        "all_s": all_s,
        "stats_s": stats_s,
        "peak_mb": peak_mb,
        "stats_first": "2025-12-03",
        "stats_last": "2026-12-03",
        "errors": errors,
    }


def test_ratios_up_to_six_times_and_memory_up_to_the_ceiling_pass() -> None:
    city = figures(1.0, 2.0, 250.0)
    lines = verdicts(city, figures(1.0 * TARGET_RATIO, 2.0 * TARGET_RATIO, TARGET_PEAK_MB))
    assert [line.ok for line in lines] == [True, True, True]
    assert "ratio 6.00×" in lines[0].text and "ratio 6.00×" in lines[1].text
    assert "300 MB" in lines[2].text and "2025-12-03 to 2026-12-03" in lines[1].text


def test_each_line_fails_on_its_own() -> None:
    city = figures(1.0, 2.0, 250.0)
    assert [v.ok for v in verdicts(city, figures(6.1, 2.0, 100.0))] == [False, True, True]
    assert [v.ok for v in verdicts(city, figures(1.0, 12.1, 100.0))] == [True, False, True]
    assert [v.ok for v in verdicts(city, figures(1.0, 2.0, 301.0))] == [True, True, False]


def test_a_part_that_failed_on_an_engine_fails_with_its_error() -> None:
    city = figures(1.0, 2.0, 250.0)
    province = {**figures(0.0, 0.0, 150.0), "errors": {"stats": "UndefinedFunctionError: json_each"}}
    del province["stats_s"]
    lines = verdicts(city, province)
    assert [v.ok for v in lines] == [True, False, True]
    assert "failed on PostgreSQL: UndefinedFunctionError: json_each" in lines[1].text
    lines = verdicts({**city, "errors": {"summaries": "OperationalError: locked"}}, figures(1.0, 2.0, 100.0))
    assert not lines[0].ok and "failed on SQLite: OperationalError: locked" in lines[0].text


def test_four_workers_pass_at_three_times_one() -> None:
    assert intake_verdict({1: 100.0, 4: 300.0}).ok
    line = intake_verdict({1: 100.0, 4: 299.0})
    assert not line.ok and "1 worker 100 updates/s, 4 workers 299 updates/s: 2.99×" in line.text
    assert not intake_verdict({1: 0.0, 4: 10.0}).ok


def test_each_side_keeps_its_best_time_and_its_highest_peak_over_the_rounds() -> None:
    """Rounds alternate city and province on a shared machine: a burst of other load falls on one round, not on
    one side, and the best of each side is compared; memory is judged by its worst."""
    rounds = [
        {"areas": 990, "all_s": 30.0, "stats_s": 12.0, "table_s": 3.0, "peak_mb": 280.0, "errors": {}},
        {"areas": 990, "all_s": 22.0, "stats_s": 19.0, "table_s": 2.5, "peak_mb": 290.0, "errors": {}},
        {"areas": 990, "all_s": 25.0, "stats_s": 11.0, "table_s": 4.0, "peak_mb": 285.0, "errors": {"x": "E: y"}},
    ]
    got = best(rounds)
    assert (got["all_s"], got["stats_s"], got["table_s"], got["peak_mb"]) == (22.0, 11.0, 2.5, 290.0)
    assert got["areas"] == 990 and got["errors"] == {"x": "E: y"}


def test_each_worker_gets_half_the_idle_cores_split_among_four_at_least_a_twentieth() -> None:
    assert worker_cap(2.0, 4) == 0.25
    assert worker_cap(1.0, 4) == 0.1  # 0.125, in steps of 0.05
    assert worker_cap(0.0, 4) == 0.05  # nothing idle: the floor


def test_the_cap_is_fitted_so_that_what_the_workers_share_can_keep_up() -> None:
    # Over 20 s of rounds the machine was busy 30 CPU seconds: 2 of them other work's (0.1 core), 4 the worker's;
    # the front, the stand-in and PostgreSQL used the other 24, six times the worker's.
    run = Intake(100.0, 300.0, 5.0, 0.0, 0.99, worker_cpu_s=4.0, machine_cpu_s=30.0, wall_s=20.0)
    k = shared_share(run, 0.1)
    assert k is not None and abs(k - 6.0) < 1e-9
    # Four workers at full speed and six times that for what they share: 2 idle cores / 28 = 0.071, so 0.05.
    assert fitted_cap(2.0, k, 4) == 0.05
    assert fitted_cap(2.0, 1.0, 4) == 0.25  # what they share as cheap as the workers: half of the cores each
    assert fitted_cap(0.0, 1.0, 4) == 0.05  # the floor
    assert shared_share(Intake(100.0, 300.0, 5.0, 0.0, None), 0.0) is None  # not capped: nothing measured


def test_the_intake_line_names_the_cap_or_says_it_is_bounded_by_cores() -> None:
    assert "each worker capped at 0.25 CPU" in intake_verdict({1: 100.0, 4: 300.0}, 0.25).text
    assert "bounded by this machine's cores" in intake_verdict({1: 100.0, 4: 300.0}).text


def test_the_cap_comes_down_while_what_the_workers_share_falls_behind_them() -> None:
    # Four workers at 0.15 CPU whose share used 3 CPU seconds for each of theirs: 2.4 of 2 idle cores.
    four = Intake(600.0, 1200.0, 10.0, 0.0, 0.9)
    lower, why = lower_cap(four, 4, 0.15, 3.0, 2.0)
    assert lower == 0.1 and "would need 2.40 of the 2.00 idle cores" in why
    # The cores were there, but the stand-in pushed barely faster than the workers stored: they waited for it.
    starved = Intake(613.0, 710.0, 10.0, 0.0, 0.82)
    lower, why = lower_cap(starved, 4, 0.15, 1.9, 2.0)
    assert lower == 0.1 and "pushed only 1.16× as fast as the workers stored" in why
    assert lower_cap(starved, 4, 0.05, 1.9, 2.0) == (None, "")  # the floor: measured as it is
    # Room for four and a stand-in well ahead: the cap stays.
    assert lower_cap(Intake(150.0, 1600.0, 7.0, 0.0, 0.98), 1, 0.1, 2.4, 2.0) == (None, "")
