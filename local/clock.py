"""A virtual clock shared by every part of the twin.

AWS work that takes hours (copy jobs, Step Functions Retry and Wait delays) must run in
milliseconds here, yet keep its order and its timing. The clock is a small discrete-event
scheduler:

- `now()` is virtual time. The AWS Backup twin, JSONata's `$now()`, the context object's
  EnteredTime and every execution history timestamp read it.
- Step Functions executions are *participants*. When one sleeps (a Retry interval, a Wait
  state, an SDK back-off) it blocks until virtual time reaches its wake time.
- When every participant is asleep, nothing else can happen before the earliest wake time,
  so the clock jumps there: time-triggered work (copy jobs finishing, events) runs first,
  then the sleepers that are due wake up.
- A jump is not one leap: the clock stops at every moment time-triggered work said it was
  due (`on_advance(..., next_due=...)`), so a copy that completes at +30 min publishes its
  event at +30 min even when the next sleeper wakes at +2 h. If that event starts a new
  participant (an execution), an automatic jump ends there and the newcomer runs first.
- A thread that is not a participant (a test, a script) that sleeps simply moves the clock.

Every sleep is recorded, so tests can assert on the delays AWS would have waited.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 11, 20, 5, 0, 0, tzinfo=UTC)
RUNNING_AT_ONCE = 4


@dataclass(frozen=True)
class Sleep:
    """One recorded delay: who slept, why, and for how long (virtual seconds)."""

    owner: str
    reason: str
    seconds: float
    at: datetime


class ClockStalled(RuntimeError):
    """Participants are still running after the real-time budget: something blocked."""


class VirtualClock:
    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("the virtual clock needs an aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._sleepers: list[tuple[datetime, int, threading.Event]] = []
        self._sequence = itertools.count()
        self._participants: dict[int, str] = {}
        self._pending_participants = 0
        self._listeners: list[Callable[[datetime], None]] = []
        self._due: list[Callable[[], datetime | None]] = []
        self._local = threading.local()
        self.auto_advance = True
        self.sleeps: list[Sleep] = []
        # At most this many participants run at once; the others wait for a slot, awake (so
        # time stands still for them). Python runs one thread at a time anyway, and a thousand
        # runnable threads fighting over the same locks convoy and crawl.
        self._run_slots = threading.Semaphore(RUNNING_AT_ONCE)
        # The thread inside a `one_at_a_time` block, and how many participants wait for it.
        self._exclusive: int | None = None
        self._exclusive_waiters = 0  # every thread waiting for its turn
        self._waiting_for_exclusive = 0  # of which participants, who count as asleep
        self._handing_over = False  # the block is free and a waiter is about to take it
        # One-off actions due at a virtual moment (someone deletes a backup; a late event).
        self._timers: list[tuple[datetime, int, Callable[[], None]]] = []
        self.on_advance(self._fire_timers, next_due=self.next_timer)

    # -- reading ---------------------------------------------------------------------------
    def now(self) -> datetime:
        # Lock-free on purpose: a reader must never wait for listeners that run under the lock.
        return self._now

    def iso_now(self) -> str:
        """ISO-8601 with milliseconds and Z, the form Step Functions uses for timestamps."""
        return self.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # -- time-triggered work ---------------------------------------------------------------
    def on_advance(
        self,
        listener: Callable[[datetime], None],
        next_due: Callable[[], datetime | None] | None = None,
    ) -> None:
        """Call `listener(now)` every time the clock moves (e.g. to progress copy jobs).

        `next_due()` tells when the listener next has work of its own (a job finishing); the
        clock then stops at that moment on its way to a later time.
        """
        self._listeners.append(listener)
        if next_due is not None:
            self._due.append(next_due)

    def call_at(self, when: datetime, action: Callable[[], None]) -> None:
        """Run `action()` when virtual time reaches `when` (at once if it already has).

        It runs where time-triggered work runs: while the clock moves, with its lock held, so
        nothing else happens at that moment before it; it may start executions.
        """
        with self._lock:
            heapq.heappush(self._timers, (when, next(self._sequence), action))
            if when <= self._now:
                self._fire_timers(self._now)

    def next_timer(self) -> datetime | None:
        """When the next `call_at` action is due (None: none is waiting)."""
        timers = self._timers
        return timers[0][0] if timers else None

    def _fire_timers(self, now: datetime) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, _, action = heapq.heappop(self._timers)
            action()

    def advance(self, seconds: float = 0.0, *, to: datetime | None = None) -> datetime:
        """Move virtual time forward and run what became due; never moves backwards."""
        with self._lock:
            target = to if to is not None else self._now + timedelta(seconds=seconds)
            self._move_to(max(target, self._now))
            return self._now

    def _next_due(self, target: datetime) -> datetime | None:
        due = [when for provider in self._due if (when := provider()) is not None]
        between = [when for when in due if self._now < when < target]
        return min(between) if between else None

    def _awake(self) -> int:
        return (
            len(self._participants)
            + self._pending_participants
            - len(self._sleepers)
            - self._waiting_for_exclusive
            + self._handing_over
        )

    def _move_to(self, target: datetime, *, stop_when_awake: bool = False) -> None:
        # Listeners may start new participants (an event starting an execution); they run
        # with the lock held so that no sleeper wakes before the world has caught up.
        while (due := self._next_due(target)) is not None:
            self._now = due
            for listener in list(self._listeners):
                listener(self._now)
            if stop_when_awake and self._awake() > 0:
                # Someone new is running at this moment: the jump ends here, and resumes
                # when every participant is asleep again.
                self._changed.notify_all()
                return
        self._now = target
        for listener in list(self._listeners):
            listener(self._now)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, wake = heapq.heappop(self._sleepers)
            wake.set()
        self._changed.notify_all()

    # -- participants ----------------------------------------------------------------------
    def reserve_participant(self) -> None:
        """Count a participant before its thread exists, so time cannot jump past its start."""
        with self._lock:
            self._pending_participants += 1

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Keep time still while a driver sets several things in motion at one moment.

        A driver (a test, a script) is not a participant, so time may jump as soon as the
        executions it started are all asleep, before it starts the next one. Inside this block
        the driver counts as one awake participant; on leaving, time may move again.
        """
        self.reserve_participant()
        try:
            yield
        finally:
            with self._lock:
                self._pending_participants -= 1
                self._maybe_jump()
                self._changed.notify_all()

    @contextmanager
    def participant(self, name: str, *, reserved: bool = False) -> Iterator[None]:
        ident = threading.get_ident()
        with self._lock:
            if reserved:
                self._pending_participants -= 1
            self._participants[ident] = name
        self._local.name = name
        self._run_slots.acquire()
        try:
            yield
        finally:
            self._run_slots.release()
            self._local.name = None
            with self._lock:
                self._participants.pop(ident, None)
                self._maybe_jump()
                self._changed.notify_all()

    @contextmanager
    def one_at_a_time(self) -> Iterator[None]:
        """Run the block while no other thread is inside one.

        A participant that has to wait counts as asleep and gives up its run slot: the holder
        may itself sleep inside the block (an SDK back-off), and time must still move for it.
        From the holder's exit until a waiter takes its turn, time stands still, so the waiter
        runs at the moment the holder left.
        """
        ident = threading.get_ident()
        participant = waited = False
        with self._lock:
            if self._exclusive == ident:  # already inside, further up this thread's stack
                nested = True
            else:
                nested = False
                participant = ident in self._participants
                waited = self._exclusive is not None or self._exclusive_waiters > 0
                if waited:
                    self._exclusive_waiters += 1
                    self._waiting_for_exclusive += participant
                    if participant:
                        self._run_slots.release()
                    self._maybe_jump()
                    self._changed.wait_for(lambda: self._exclusive is None)
                    self._exclusive_waiters -= 1
                    self._waiting_for_exclusive -= participant
                    self._handing_over = False
                self._exclusive = ident
        if nested:
            yield
            return
        if waited and participant:
            self._run_slots.acquire()
        try:
            yield
        finally:
            with self._lock:
                self._exclusive = None
                self._handing_over = self._exclusive_waiters > 0
                self._changed.notify_all()

    def current_participant(self) -> str | None:
        return getattr(self._local, "name", None)

    def active_participants(self) -> int:
        with self._lock:
            return len(self._participants) + self._pending_participants

    # -- sleeping --------------------------------------------------------------------------
    def sleep(self, seconds: float, reason: str = "sleep") -> None:
        seconds = max(0.0, float(seconds))
        owner = self.current_participant()
        with self._lock:
            self.sleeps.append(Sleep(owner or "<driver>", reason, seconds, self._now))
            if owner is None:
                self._move_to(self._now + timedelta(seconds=seconds))
                return
            wake = threading.Event()
            heapq.heappush(
                self._sleepers, (self._now + timedelta(seconds=seconds), next(self._sequence), wake)
            )
            # Give up the run slot before time can jump, so the woken can take it.
            self._run_slots.release()
            self._maybe_jump()
        wake.wait()
        self._run_slots.acquire()

    def _maybe_jump(self) -> None:
        if not self.auto_advance or not self._sleepers:
            return
        if self._awake() <= 0:
            self._move_to(max(self._sleepers[0][0], self._now), stop_when_awake=True)

    def wait_until_idle(self, timeout: float = 60.0) -> None:
        """Block the calling (non-participant) thread until no participant is left."""
        with self._lock:
            finished = self._changed.wait_for(
                lambda: not self._participants and not self._pending_participants, timeout
            )
            if not finished:
                raise ClockStalled(
                    f"{len(self._participants)} execution(s) still running after {timeout} s "
                    f"of real time: {sorted(self._participants.values())[:5]}"
                )

    def sleeps_of(self, owner: str) -> list[float]:
        return [s.seconds for s in self.sleeps if s.owner == owner]
