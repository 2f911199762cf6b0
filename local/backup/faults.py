"""Faults injected into the AWS Backup twin on purpose, each behind its own switch.

- `throttle(fraction, ...)`: refuse that fraction of calls (all, or the named operations)
  with LimitExceededException (HTTP 400) or ThrottlingException (HTTP 429), before they act
  (docs/aws-facts.md §B.7). A seeded generator makes a run repeatable.
- `server_errors(fraction, ...)`: the same with AWS's 5xx answers besides throttling:
  InternalFailure (HTTP 500) and ServiceUnavailable (HTTP 503) (docs/aws-facts.md §B.7, §H).
- `on_copy(predicate, duration=, fail=, hold=)`: copy jobs that match take that long, end
  FAILED with that status message, or stay in CREATED until released (§B.1: no SLA, retry
  phase in CREATED). It also applies to matching jobs still waiting in CREATED.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from local.backup.exceptions import error
from local.backup.models import Job


@dataclass
class Throttle:
    fraction: float
    codes: tuple[str, ...]
    operations: frozenset[str] | None
    rng: random.Random


@dataclass
class CopyRule:
    """How copy jobs that match `predicate` behave (fault injection and timing)."""

    predicate: Callable[[Job], bool]
    duration: timedelta | None = None
    fail: str | None = None
    hold: bool = False

    def apply(self, job: Job) -> None:
        if self.duration is not None:
            job.duration = self.duration
        if self.fail is not None:
            job.fail_message = self.fail
        if self.hold:
            job.held = True


# HTTP status of each error a call fault can draw.
_STATUS = {
    "LimitExceededException": 400,
    "ThrottlingException": 429,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
    "ServiceUnavailableException": 503,
}
_MESSAGES = {
    "InternalFailure": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
}


class Faults:
    def __init__(self) -> None:
        self.throttles: list[Throttle] = []
        self.copy_rules: list[CopyRule] = []

    def throttle(
        self,
        fraction: float,
        *,
        codes: Iterable[str] = ("LimitExceededException", "ThrottlingException"),
        operations: Iterable[str] | None = None,
        seed: int = 1,
    ) -> None:
        """Refuse `fraction` of calls (all, or the named snake_case operations)."""
        unknown = set(codes) - set(_STATUS)
        if unknown:
            raise ValueError(f"no HTTP status known for {sorted(unknown)}")
        self.throttles.append(
            Throttle(
                fraction,
                tuple(codes),
                frozenset(operations) if operations is not None else None,
                random.Random(seed),
            )
        )

    def server_errors(
        self,
        fraction: float,
        *,
        codes: Iterable[str] = ("InternalFailure", "ServiceUnavailable"),
        operations: Iterable[str] | None = None,
        seed: int = 2,
    ) -> None:
        """Answer `fraction` of calls (all, or the named operations) with a 5xx error."""
        self.throttle(fraction, codes=codes, operations=operations, seed=seed)

    def clear(self) -> None:
        self.throttles.clear()
        self.copy_rules.clear()

    def before_call(self, operation: str) -> None:
        """Raise the error a fault draws for this call, if any: it is refused before it acts."""
        for throttle in self.throttles:
            if throttle.operations is not None and operation not in throttle.operations:
                continue
            if throttle.rng.random() < throttle.fraction:
                code = throttle.rng.choice(throttle.codes)
                raise error(code, _MESSAGES.get(code, "Rate exceeded"), _STATUS[code])

    def add_copy_rule(self, rule: CopyRule) -> None:
        self.copy_rules.append(rule)

    def shape_copy(self, job: Job) -> None:
        """Apply every matching copy rule to a new copy job."""
        for rule in self.copy_rules:
            if rule.predicate(job):
                rule.apply(job)
