"""The virtual clock (local/clock.py): hours of AWS waiting in milliseconds, in the right order.

Copy jobs take hours with no SLA and Step Functions waits between polls (docs/aws-facts.md §B.1,
§C.4); the clock lets the twin run that time instantly while keeping who-happens-first.
These tests use threads as stand-ins for Step Functions executions (participants).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from local.clock import DEFAULT_START, ClockStalled, Sleep, VirtualClock

pytestmark = pytest.mark.twin

START = datetime(2026, 11, 20, 5, 0, 0, tzinfo=UTC)
REAL_TIMEOUT = 5.0  # real seconds; every test finishes in milliseconds unless the clock is broken


def elapsed(clock: VirtualClock) -> float:
    return (clock.now() - START).total_seconds()


class Participant:
    """A thread that joins the clock as a participant and runs `body` there."""

    def __init__(
        self, clock: VirtualClock, name: str, body: Callable[[], object], *, reserved: bool = False
    ) -> None:
        self.clock = clock
        self.error: BaseException | None = None

        def run() -> None:
            try:
                with clock.participant(name, reserved=reserved):
                    body()
            except BaseException as error:  # surfaced by join()
                self.error = error

        self.thread = threading.Thread(target=run, name=name, daemon=True)

    def start(self) -> Participant:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join(REAL_TIMEOUT)
        assert not self.thread.is_alive(), "participant still blocked"
        if self.error is not None:
            raise self.error


def sleep_then_log(
    clock: VirtualClock, seconds: float, log: list[tuple[str, float]], label: str
) -> Callable[[], None]:
    """A participant's body: sleep, then note when (virtual seconds since START) it woke."""

    def body() -> None:
        clock.sleep(seconds)
        log.append((label, elapsed(clock)))

    return body


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


def test_now_is_the_aware_start_time_and_a_naive_start_is_refused(clock: VirtualClock) -> None:
    """docs/aws-facts.md §B.3: timestamps are zone-aware; Step Functions writes ms and Z."""
    assert clock.now() == START
    assert VirtualClock().now() == DEFAULT_START
    # Step Functions' timestamp form: milliseconds and Z.
    assert clock.iso_now() == "2026-11-20T05:00:00.000Z"
    with pytest.raises(ValueError, match="aware"):
        VirtualClock(datetime(2026, 11, 20))


def test_advance_moves_time_runs_listeners_and_never_goes_back(clock: VirtualClock) -> None:
    """docs/design.md §7: jobs move under test control; time never runs backwards."""
    seen: list[datetime] = []
    clock.on_advance(seen.append)

    clock.advance(90)
    clock.advance(to=START + timedelta(hours=2))
    clock.advance(to=START)  # the past: time stays where it is

    assert clock.now() == START + timedelta(hours=2)
    assert seen == [
        START + timedelta(seconds=90),
        START + timedelta(hours=2),
        START + timedelta(hours=2),
    ]


def test_a_non_participant_sleep_moves_the_clock_and_is_recorded(clock: VirtualClock) -> None:
    """docs/twin.md §1 (keeping tests fast): sleeps are recorded, not waited."""
    seen: list[datetime] = []
    clock.on_advance(seen.append)

    clock.sleep(3600, "poll")  # a test or script thread: nothing to wait for, time just moves

    assert elapsed(clock) == 3600
    assert seen == [START + timedelta(hours=1)]
    assert clock.sleeps == [Sleep("<driver>", "poll", 3600.0, START)]
    clock.sleep(-5)  # a negative delay is no delay
    assert elapsed(clock) == 3600


def test_a_participant_sleeps_until_virtual_time_reaches_its_wake_time(
    clock: VirtualClock,
) -> None:
    """docs/aws-facts.md §C.4: a Retry interval is a real delay, in virtual time here."""
    clock.auto_advance = False  # only the test moves time here
    woke_at: list[datetime] = []

    def wait_a_minute() -> None:
        clock.sleep(60, "wait")
        woke_at.append(clock.now())

    asleep = Participant(clock, "exec-1", wait_a_minute)
    asleep.start()
    # Give the thread real time to fall asleep; it must not wake on its own.
    asleep.thread.join(0.1)
    assert asleep.thread.is_alive()
    assert clock.sleeps == [Sleep("exec-1", "wait", 60.0, START)]

    clock.advance(59)
    asleep.thread.join(0.1)
    assert asleep.thread.is_alive(), "woke before its wake time"

    clock.advance(1)
    asleep.join()
    assert woke_at == [START + timedelta(seconds=60)]


def test_when_every_participant_sleeps_the_clock_jumps_to_the_earliest_wake_time(
    clock: VirtualClock,
) -> None:
    """docs/aws-facts.md §C.4: back-offs of concurrent executions keep their global order."""
    wakes: list[tuple[str, float]] = []
    lock = threading.Lock()

    def sleeper(name: str, delays: list[float]) -> Callable[[], None]:
        def body() -> None:
            for delay in delays:
                clock.sleep(delay, "retry")
                with lock:
                    wakes.append((name, elapsed(clock)))

        return body

    # Two executions with interleaved back-offs; auto-advance must honour the global order.
    clock.reserve_participant()
    clock.reserve_participant()
    a = Participant(clock, "a", sleeper("a", [100, 300]), reserved=True).start()
    b = Participant(clock, "b", sleeper("b", [250, 10]), reserved=True).start()
    a.join()
    b.join()

    assert wakes == [("a", 100.0), ("b", 250.0), ("b", 260.0), ("a", 400.0)]
    assert elapsed(clock) == 400
    assert clock.sleeps_of("a") == [100.0, 300.0]
    assert clock.sleeps_of("b") == [250.0, 10.0]


def test_time_triggered_work_runs_before_the_sleepers_that_are_due_wake(
    clock: VirtualClock,
) -> None:
    """docs/aws-facts.md §B.1: a poll due when a copy completes must see it completed."""
    finished: list[datetime] = []
    # Like a copy job that completes at +30 min: the poller due then must already see it.
    clock.on_advance(
        lambda now: finished.append(now) if now >= START + timedelta(minutes=30) else None
    )
    saw: list[int] = []

    def poller() -> None:
        clock.sleep(1800, "retry")
        saw.append(len(finished))

    Participant(clock, "poller", poller).start().join()
    assert saw == [1]


def test_a_reserved_participant_holds_time_until_its_thread_runs(clock: VirtualClock) -> None:
    # An event starts an execution: its thread does not exist yet, but time must not jump past
    # its start just because every running execution is asleep.
    """docs/aws-facts.md §D.1: an event starts an execution; its start must not be skipped."""
    clock.reserve_participant()
    assert clock.active_participants() == 1
    woke: list[tuple[str, float]] = []
    first = Participant(clock, "first", sleep_then_log(clock, 100, woke, "first")).start()
    first.thread.join(0.1)
    assert first.thread.is_alive(), "time jumped although a reserved participant was pending"
    assert elapsed(clock) == 0

    late = Participant(
        clock,
        "late",
        sleep_then_log(clock, 50, woke, "late"),
        reserved=True,
    ).start()
    first.join()
    late.join()
    assert woke == [("late", 50.0), ("first", 100.0)]
    assert clock.active_participants() == 0


def test_wait_until_idle_returns_when_participants_finish_and_raises_when_stalled(
    clock: VirtualClock,
) -> None:
    """docs/twin.md §1: executions run in threads; a stuck one must fail loudly."""
    Participant(clock, "quick", lambda: clock.sleep(7200)).start().join()
    clock.wait_until_idle(timeout=REAL_TIMEOUT)
    assert elapsed(clock) == 7200

    # A participant blocked on something that is not the clock: real time runs out.
    gate = threading.Event()
    stuck = Participant(clock, "arn:aws:states:execution:stuck", lambda: gate.wait(REAL_TIMEOUT))
    stuck.start()
    try:
        with pytest.raises(ClockStalled, match="stuck"):
            clock.wait_until_idle(timeout=0.2)
    finally:
        gate.set()
        stuck.join()
    clock.wait_until_idle(timeout=REAL_TIMEOUT)


def test_current_participant_names_the_sleeper_in_the_record(clock: VirtualClock) -> None:
    """docs/twin.md §1: recorded delays can be asserted per execution."""
    names: list[str | None] = []

    def body() -> None:
        names.append(clock.current_participant())
        clock.sleep(5, "wait")

    Participant(clock, "exec-9", body).start().join()
    assert names == ["exec-9"]
    assert clock.current_participant() is None  # the test thread is not a participant
    assert [(s.owner, s.reason, s.seconds) for s in clock.sleeps] == [("exec-9", "wait", 5.0)]


class Schedule:
    """Time-triggered work, like copy jobs finishing: it says when it is next due."""

    def __init__(self, clock: VirtualClock, *times: timedelta) -> None:
        self.pending = sorted(START + t for t in times)
        self.ran_at: list[datetime] = []
        self.then: Callable[[datetime], None] = lambda now: None
        clock.on_advance(self.run, next_due=lambda: self.pending[0] if self.pending else None)

    def run(self, now: datetime) -> None:
        while self.pending and self.pending[0] <= now:
            self.ran_at.append(now)
            self.then(self.pending.pop(0))


def test_a_long_jump_stops_at_every_moment_work_is_due(clock: VirtualClock) -> None:
    # A copy completing at +30 min must publish its event at +30 min, not when the clock lands.
    """docs/aws-facts.md §A.3/§B.1: a copy's event is published when it completes."""
    work = Schedule(clock, timedelta(minutes=30), timedelta(hours=1))
    clock.advance(to=START + timedelta(hours=3))
    assert work.ran_at == [START + timedelta(minutes=30), START + timedelta(hours=1)]
    assert elapsed(clock) == 3 * 3600


def test_an_automatic_jump_ends_where_work_starts_a_new_participant(clock: VirtualClock) -> None:
    # An execution sleeps 2 h; at +30 min an event starts a second execution, which must run
    # at +30 min (and sleep its own 10 min) before the first one wakes.
    """docs/aws-facts.md §A.4/§D.1: a completion event starts an execution at that moment."""
    work = Schedule(clock, timedelta(minutes=30))
    log: list[tuple[str, float]] = []
    started: list[Participant] = []

    def second() -> None:
        log.append(("second starts", elapsed(clock)))
        clock.sleep(600)
        log.append(("second wakes", elapsed(clock)))

    def start_second(_: datetime) -> None:
        clock.reserve_participant()
        started.append(Participant(clock, "second", second, reserved=True).start())

    work.then = start_second
    first = Participant(clock, "first", sleep_then_log(clock, 7200, log, "first wakes")).start()
    first.join()
    started[0].join()
    assert log == [("second starts", 1800.0), ("second wakes", 2400.0), ("first wakes", 7200.0)]


def test_one_at_a_time_blocks_run_in_turn_and_time_moves_for_a_holder_that_sleeps(
    clock: VirtualClock,
) -> None:
    # Lambda runs each concurrent invocation in its own environment; the twin's invocations
    # share a process, so they take turns. A holder that backs off (an SDK retry) sleeps on
    # the clock inside its turn; the others wait asleep, or time would never reach its wake-up.
    log: list[tuple[str, str, float]] = []

    def invocation(name: str, back_off: float) -> Callable[[], None]:
        def body() -> None:
            with clock.one_at_a_time():
                log.append((name, "in", elapsed(clock)))
                clock.sleep(back_off, "sdk-retry")
                log.append((name, "out", elapsed(clock)))

        return body

    runners = [
        Participant(clock, name, invocation(name, back_off), reserved=True)
        for name, back_off in (("a", 30.0), ("b", 10.0), ("c", 20.0))
    ]
    for runner in runners:
        clock.reserve_participant()
        runner.start()
    for runner in runners:
        runner.join()

    # Never two inside at once: each "in" is followed by its own "out".
    assert [entry[:2] for entry in log[::2]] == [(name, "in") for name, _, _ in log[::2]]
    assert [entry[0] for entry in log[1::2]] == [entry[0] for entry in log[::2]]
    # Each turn starts when the previous one ends, and the back-offs add up.
    turns = [(log[i][2], log[i + 1][2]) for i in range(0, len(log), 2)]
    assert turns[0][0] == 0.0
    assert all(later[0] == earlier[1] for earlier, later in itertools.pairwise(turns))
    assert elapsed(clock) == 60.0


def test_one_at_a_time_may_be_entered_again_by_its_holder(clock: VirtualClock) -> None:
    with clock.one_at_a_time(), clock.one_at_a_time():
        clock.sleep(5)
    with clock.one_at_a_time():  # and it is free afterwards
        assert elapsed(clock) == 5.0
