"""The rules that turn attempts into verdicts, over explicit times."""

from datetime import UTC, datetime, timedelta

from archiver.check.verdicts import Outcome, Rules, next_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GONE = Outcome("failing", "http_404", hard=True)
DOWN = Outcome("failing", "http_503")
OK = Outcome("ok", "http_200")


def run(outcomes: list[tuple[Outcome, float]], rules: Rules | None = None) -> dict:
    state = None
    for outcome, day in outcomes:
        state = next_state(state, outcome, T0 + timedelta(days=day), rules or Rules())
    assert state is not None
    return state


def test_dead_needs_enough_failures_over_enough_days() -> None:
    assert run([(GONE, 0), (GONE, 0.1), (GONE, 0.2)])["verdict"] == "failing"  # too quick
    assert run([(GONE, 0), (GONE, 5)])["verdict"] == "failing"  # too few
    state = run([(GONE, 0), (GONE, 1), (GONE, 3)])
    assert state["verdict"] == "dead"
    assert state["since"] == (T0 + timedelta(days=3)).isoformat()


def test_any_success_resets_the_count() -> None:
    state = run([(GONE, 0), (GONE, 1), (OK, 2), (GONE, 3), (GONE, 4)])
    assert state["verdict"] == "failing"
    assert state["failures"] == 2
    assert state["last_ok_at"] == (T0 + timedelta(days=2)).isoformat()


def test_transient_failures_neither_build_nor_break_a_streak() -> None:
    assert run([(DOWN, 0), (DOWN, 2), (DOWN, 5)])["verdict"] == "failing"
    assert run([(GONE, 0), (DOWN, 1), (GONE, 2), (GONE, 3)])["verdict"] == "dead"
    dead = run([(GONE, 0), (GONE, 1), (GONE, 3), (DOWN, 4)])
    assert (dead["verdict"], dead["reason"]) == ("dead", "http_404")


def test_blocked_is_not_death_and_resets() -> None:
    state = run([(GONE, 0), (GONE, 1), (Outcome("blocked", "http_451"), 3)])
    assert (state["verdict"], state["failures"]) == ("blocked", 0)


def test_dead_sources_come_back() -> None:
    state = run([(GONE, 0), (GONE, 1), (GONE, 3), (OK, 30)])
    assert (state["verdict"], state["failures"], state["failing_since"]) == ("ok", 0, None)


def test_since_is_when_the_verdict_began() -> None:
    state = run([(OK, 0), (OK, 1), (OK, 2)])
    assert state["since"] == T0.isoformat()
