"""The bench's total-queue checker catches each anomaly on a hand-made history, and passes a clean one.

Each bad history below differs from a clean one by exactly the anomaly its test names, so a checker that
stopped looking for that anomaly would let the history through and the test would fail.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.checker import ANOMALIES, FinalState, Op, Row, Verdict, check, read_history, write_history
from bench.eventcheck import ANOMALIES as EVENT_ANOMALIES
from bench.eventcheck import LoggedEvent

LUIGIS = "restaurant-luigis"
MARIOS = "restaurant-marios"


def joined(key: str, entry_id: str, token: int, restaurant: str = LUIGIS, status: int = 201) -> Op:
    return Op(kind="join", outcome="ok", restaurant=restaurant, key=key, entry_id=entry_id, token=token,
              status=status)  # fmt: skip


def join_unanswered(key: str, restaurant: str = LUIGIS) -> Op:
    return Op(kind="join", outcome="unknown", restaurant=restaurant, key=key)


def join_refused(key: str, restaurant: str = LUIGIS) -> Op:
    return Op(kind="join", outcome="fail", restaurant=restaurant, key=key, status=429)


def called(entry_id: str, token: int) -> Op:
    return Op(kind="call_next", outcome="ok", restaurant=LUIGIS, entry_id=entry_id, token=token, status=200)


def row(entry_id: str, token: int, key: str | None, status: str = "waiting", restaurant: str = LUIGIS) -> Row:
    return Row(restaurant=restaurant, entry_id=entry_id, token=token, status=status, key=key,
               called=status in {"called", "seated", "no_show"})  # fmt: skip


def final(*rows: Row, counters: dict[str, int] | None = None) -> FinalState:
    if counters is None:
        counters = {}
        for stored in rows:
            counters[stored.restaurant] = max(counters.get(stored.restaurant, 0), stored.token)
    return FinalState(rows=rows, last_tokens=counters)


def only(verdict: Verdict, anomaly: str) -> int:
    """The count of ``anomaly``, after making sure no other anomaly was reported."""
    assert not verdict.valid
    others = {name: count for name, count in verdict.anomalies.items() if count and name != anomaly}
    assert others == {}, others
    return verdict.anomalies[anomaly]


# A clean rush: three guests joined (one after a lost answer), one was refused, two were called, one seated.
CLEAN_HISTORY = [
    joined("k1", "e1", 1),
    join_unanswered("k2"),
    joined("k2", "e2", 2, status=200),
    join_unanswered("k3"),
    join_refused("k4"),
    called("e1", 1),
    called("e2", 2),
    Op(kind="seat", outcome="ok", restaurant=LUIGIS, entry_id="e1", status=200),
    Op(kind="call_next", outcome="ok", restaurant=MARIOS, status=204),
]
CLEAN_FINAL = final(
    row("e1", 1, "k1", "seated"),
    row("e2", 2, "k2", "called"),
    row("e3", 3, "k3"),
    counters={LUIGIS: 3, MARIOS: 0},
)


def test_a_clean_history_is_valid_and_counts_what_the_retries_recovered() -> None:
    verdict = check(CLEAN_HISTORY, CLEAN_FINAL)

    assert verdict.valid, verdict.anomalies
    assert set(verdict.anomalies) == set(ANOMALIES)
    assert verdict.counts["joins_acknowledged"] == 2
    assert verdict.counts["joins_unknown"] == 1
    assert verdict.counts["joins_refused"] == 1
    assert verdict.counts["recovered"] == 1  # k3: no answer ever, yet its entry is there
    assert verdict.counts["joins_replayed_after_retry"] == 1  # k2: the retry was answered by a replay
    assert verdict.counts["calls_acknowledged"] == 2


def test_an_acknowledged_join_missing_from_the_database_is_lost() -> None:
    verdict = check(
        [joined("k1", "e1", 1), joined("k2", "e2", 2)], final(row("e1", 1, "k1"), counters={LUIGIS: 1})
    )

    assert only(verdict, "lost") == 1
    assert "k2" in verdict.examples["lost"][0]


def test_an_acknowledged_join_stored_as_another_entry_is_lost() -> None:
    verdict = check([joined("k1", "e1", 1)], final(row("e-other", 1, "k1")))

    assert only(verdict, "lost") == 1


def test_an_entry_nobody_asked_for_is_unexpected() -> None:
    verdict = check([joined("k1", "e1", 1)], final(row("e1", 1, "k1"), row("e2", 2, "k-never-sent")))

    assert only(verdict, "unexpected") == 1


def test_an_entry_whose_join_was_refused_is_unexpected() -> None:
    verdict = check(
        [joined("k1", "e1", 1), join_refused("k2")], final(row("e1", 1, "k1"), row("e2", 2, "k2"))
    )

    assert only(verdict, "unexpected") == 1


def test_an_unknown_join_that_could_not_be_tied_to_a_key_explains_one_entry_and_no_more() -> None:
    history = [joined("k1", "e1", 1), Op(kind="join", outcome="unknown", status=503)]

    assert check(history, final(row("e1", 1, "k1"), row("e2", 2, "k2"))).valid
    two_unexplained = check(history, final(row("e1", 1, "k1"), row("e2", 2, "k2"), row("e3", 3, "k3")))
    assert only(two_unexplained, "unexpected") == 1


def test_a_party_called_twice_is_duplicated() -> None:
    history = [joined("k1", "e1", 1), called("e1", 1), called("e1", 1)]

    verdict = check(history, final(row("e1", 1, "k1", "called")))

    assert only(verdict, "duplicated_calls") == 1


def test_a_token_given_twice_in_one_restaurant_is_duplicated() -> None:
    history = [joined("k1", "e1", 1), joined("k2", "e2", 1)]

    verdict = check(history, final(row("e1", 1, "k1"), row("e2", 1, "k2"), counters={LUIGIS: 2}))

    # Token 1 twice leaves token 2 unused: both the duplicate and the gap are reported.
    assert verdict.anomalies["duplicated_tokens"] == 1
    assert verdict.anomalies["token_gaps"] == 1


def test_the_same_token_in_two_restaurants_is_fine() -> None:
    history = [joined("k1", "e1", 1), joined("k1", "e2", 1, restaurant=MARIOS)]

    verdict = check(history, final(row("e1", 1, "k1"), row("e2", 1, "k1", restaurant=MARIOS)))

    assert verdict.valid, verdict.anomalies


def test_a_gap_in_a_restaurants_tokens_is_caught() -> None:
    history = [joined("k1", "e1", 1), joined("k3", "e3", 3)]

    verdict = check(history, final(row("e1", 1, "k1"), row("e3", 3, "k3")))

    assert only(verdict, "token_gaps") == 1
    assert "missing [2]" in verdict.examples["token_gaps"][0]


def test_a_counter_that_ran_past_the_last_entry_is_a_gap() -> None:
    verdict = check([joined("k1", "e1", 1)], final(row("e1", 1, "k1"), counters={LUIGIS: 2}))

    assert only(verdict, "token_gaps") == 1


def test_an_acknowledged_token_that_differs_from_the_stored_one_is_caught() -> None:
    verdict = check([joined("k1", "e1", 2)], final(row("e1", 1, "k1")))

    assert only(verdict, "token_mismatches") == 1


def test_a_key_acknowledged_as_two_different_entries_is_caught() -> None:
    history = [joined("k1", "e1", 1), joined("k1", "e2", 1, status=200)]

    verdict = check(history, final(row("e1", 1, "k1")))

    assert verdict.anomalies["key_mapped_to_several_entries"] == 1
    assert verdict.anomalies["lost"] == 0 and not verdict.valid


def test_a_key_with_two_entries_in_the_database_is_duplicated() -> None:
    history = [joined("k1", "e1", 1)]

    verdict = check(history, final(row("e1", 1, "k1"), row("e2", 2, "k1")))

    assert only(verdict, "duplicated_keys") == 1


def test_an_acknowledged_call_whose_entry_is_still_waiting_is_a_lost_transition() -> None:
    verdict = check([joined("k1", "e1", 1), called("e1", 1)], final(row("e1", 1, "k1", "waiting")))

    assert only(verdict, "lost_transitions") == 1


def test_an_acknowledged_seat_that_did_not_stick_is_a_lost_transition() -> None:
    history = [
        joined("k1", "e1", 1),
        called("e1", 1),
        Op(kind="seat", outcome="ok", restaurant=LUIGIS, entry_id="e1", status=200),
    ]

    verdict = check(history, final(row("e1", 1, "k1", "no_show")))

    assert only(verdict, "lost_transitions") == 1


def test_a_call_that_returned_an_entry_not_in_the_database_is_unexpected() -> None:
    verdict = check([joined("k1", "e1", 1), called("e-ghost", 7)], final(row("e1", 1, "k1")))

    assert only(verdict, "unexpected") == 1


def test_more_called_entries_than_acknowledged_or_unknown_calls_is_unexpected() -> None:
    history = [joined("k1", "e1", 1), joined("k2", "e2", 2), called("e1", 1)]
    both_called = final(row("e1", 1, "k1", "called"), row("e2", 2, "k2", "called"))

    assert only(check(history, both_called), "unexpected_calls") == 1
    unanswered_call = Op(kind="call_next", outcome="unknown", restaurant=LUIGIS)
    assert check([*history, unanswered_call], both_called).valid


def test_a_history_survives_the_round_trip_through_its_file(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"

    write_history(path, CLEAN_HISTORY)

    assert read_history(path) == CLEAN_HISTORY


# --- the event log --------------------------------------------------------------------------------------


def logged(seq: int, type: str, entry_id: str | None, token: int | None) -> LoggedEvent:
    return LoggedEvent(restaurant=LUIGIS, seq=seq, type=type, entry_id=entry_id, token=token)


# CLEAN_FINAL's changes, one event each: e1 joined, called, seated; e2 joined, called; e3 joined; a pause.
CLEAN_EVENTS = [
    logged(1, "joined", "e1", 1),
    logged(2, "joined", "e2", 2),
    logged(3, "joined", "e3", 3),
    logged(4, "called", "e1", 1),
    logged(5, "called", "e2", 2),
    logged(6, "seated", "e1", 1),
    logged(7, "paused", None, None),
]


def with_events(events: list[LoggedEvent], state: FinalState = CLEAN_FINAL, **broken: str) -> FinalState:
    return replace(state, events=events, broken_chains=broken)


def test_a_log_with_one_event_per_change_and_intact_chains_is_valid() -> None:
    verdict = check(CLEAN_HISTORY, with_events(CLEAN_EVENTS))

    assert verdict.valid, verdict.anomalies
    assert set(verdict.anomalies) == set(ANOMALIES) | set(EVENT_ANOMALIES)
    assert verdict.counts["events_judged"] == 7


def test_without_an_event_log_nothing_of_it_is_judged() -> None:
    verdict = check(CLEAN_HISTORY, CLEAN_FINAL)

    assert not set(verdict.anomalies) & set(EVENT_ANOMALIES)
    assert "events_judged" not in verdict.counts


def test_a_change_without_its_event_is_caught() -> None:
    verdict = check(CLEAN_HISTORY, with_events([e for e in CLEAN_EVENTS if e.seq != 5]))

    assert only(verdict, "events_not_matching_changes") == 1
    assert "e2" in verdict.examples["events_not_matching_changes"][0]


def test_a_change_logged_twice_is_caught() -> None:
    verdict = check(CLEAN_HISTORY, with_events([*CLEAN_EVENTS, logged(8, "called", "e2", 2)]))

    assert only(verdict, "events_not_matching_changes") == 1


def test_an_event_with_another_token_than_its_entry_is_caught() -> None:
    events = [logged(3, "joined", "e3", 4) if e.seq == 3 else e for e in CLEAN_EVENTS]

    assert only(check(CLEAN_HISTORY, with_events(events)), "events_not_matching_changes") == 1


def test_an_ending_the_row_does_not_show_is_caught() -> None:
    events = [logged(6, "no_show", "e1", 1) if e.seq == 6 else e for e in CLEAN_EVENTS]

    assert only(check(CLEAN_HISTORY, with_events(events)), "events_not_matching_changes") == 1


def test_a_guest_who_left_and_a_party_cancelled_by_staff_both_end_cancelled() -> None:
    history = [joined("k1", "e1", 1), joined("k2", "e2", 2)]
    state = final(row("e1", 1, "k1", "cancelled"), row("e2", 2, "k2", "cancelled"))
    events = [
        logged(1, "joined", "e1", 1),
        logged(2, "joined", "e2", 2),
        logged(3, "left", "e1", 1),
        logged(4, "cancelled", "e2", 2),
    ]

    assert check(history, with_events(events, state)).valid


def test_an_event_whose_entry_is_not_in_the_database_outlived_its_change() -> None:
    events = [*CLEAN_EVENTS, logged(8, "joined", "e-rolled-back", 4)]

    assert only(check(CLEAN_HISTORY, with_events(events)), "events_without_entry") == 1


def test_a_chain_that_does_not_verify_is_caught() -> None:
    verdict = check(CLEAN_HISTORY, with_events(CLEAN_EVENTS, luigis="seq 3: it was changed"))

    assert only(verdict, "broken_chains") == 1
    assert "seq 3" in verdict.examples["broken_chains"][0]
