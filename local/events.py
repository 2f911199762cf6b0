"""EventBridge delivery for the twin: AWS-shaped events, routed by moto's own rules.

Stock moto cannot deliver to Step Functions or Lambda targets, drops `resources` and `account`
when it forwards, and looks up SQS targets only in the rule's account
(docs/twin.md §3). The twin publishes service events itself:

- the envelope is AWS's (`version, id, detail-type, source, account, time, region,
  resources, detail`), with `time` on the virtual clock;
- an event goes onto the default bus of the account and region where it happened, and only
  the rules there see it (docs/aws-facts.md §A.4);
- each enabled rule whose pattern matches (moto's pattern matcher, which handles the
  operators we use) delivers to its targets with Input, InputPath or InputTransformer
  applied: Step Functions (StartExecution, generated name), SQS, Lambda (in-process
  runtime) and another event bus (forwarded with `account` kept); rules without a pattern
  (schedules) see no events;
- only the targets AWS can reach (docs/aws-facts.md §D.2): an event bus in any account and region;
  SQS and Lambda in any account of the rule's region; Step Functions only in the rule's own
  account and region. Other targets are not invoked: the attempt is recorded in
  `failed_deliveries`, as AWS would only count a FailedInvocation;
- `drop(predicate)` loses chosen events, because AWS Backup delivers "best effort"
  (docs/aws-facts.md §A.1);
- `disturb(...)` draws, with a seeded generator, which events are lost, delivered twice,
  delivered late (hours later, their `time` still the moment it happened) or reordered (held
  until the next event about the same job or execution has been delivered, so a later state
  arrives first) (docs/aws-facts.md §A.1);
- schedules: rules with a `rate(...)` ScheduleExpression fire on the virtual clock, each
  delivering AWS's "Scheduled Event" to its targets (docs/aws-facts.md §D.1).
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jsonpath_ng.parser import parse as jsonpath

from local.accounts import acting_as
from local.clock import VirtualClock

Event = dict[str, Any]


@dataclass
class Delivery:
    rule_arn: str
    target_arn: str
    event_id: str
    payload: Any
    error: str | None = None


# Direct cross-account targets: same region only, and Step Functions is not one (§D.2).
_CROSS_ACCOUNT_SERVICES = {"sqs", "lambda", "sns", "kinesis", "execute-api"}


def unreachable(rule_arn: str, target_arn: str) -> str | None:
    """Why a rule cannot deliver to this target in AWS, or None if it can.

    docs/aws-facts.md §D.2.
    """
    rule_region, rule_account = rule_arn.split(":")[3:5]
    service, region, account = target_arn.split(":")[2:5]
    if service == "events":
        return None
    if region != rule_region:
        return f"{target_arn} is not in the rule's region {rule_region}"
    if account != rule_account and service not in _CROSS_ACCOUNT_SERVICES:
        return f"{service} targets cannot be in another account than the rule ({rule_account})"
    return None


@dataclass
class Disturbance:
    """How often events that `applies` to are lost, doubled, late or overtaken."""

    applies: Callable[[Event], bool]
    drop: float
    duplicate: float
    late: float
    reorder: float
    late_by: tuple[timedelta, timedelta]
    reorder_hold: timedelta
    rng: random.Random

    def draw(self) -> str | None:
        roll = self.rng.random()
        for kind, share in (
            ("drop", self.drop),
            ("late", self.late),
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
        ):
            if roll < share:
                return kind
            roll -= share
        return None


def subject(event: Event) -> tuple[str, ...]:
    """What an event is about, so that a later event about it can overtake an earlier one."""
    detail = event.get("detail") or {}
    if event.get("detail-type") == "Backup Job State Change":
        return ("backup", str(detail.get("backupJobId")))
    if event.get("detail-type") == "Copy Job State Change":
        # CREATED carries no copyJobId (§A.3): the source point and destination name the job.
        resources = event.get("resources") or [""]
        return ("copy", str(resources[0]), str(detail.get("destinationBackupVaultArn")))
    if "executionArn" in detail:
        return ("execution", str(detail["executionArn"]))
    return ("event", str(event.get("id")))


@dataclass
class Disturbed:
    kind: str  # drop, duplicate, late or reorder
    event: Event
    delivered_at: datetime | None = None


class EventRouter:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self.published: list[tuple[str, str, Event]] = []
        self.deliveries: list[Delivery] = []
        self.failed_deliveries: list[Delivery] = []
        self._drop: list[Callable[[Event], bool]] = []
        self.dropped: list[Event] = []
        self._disturbances: list[Disturbance] = []
        self.disturbed: list[Disturbed] = []
        self._held: dict[tuple[str, ...], list[tuple[str, str, Event, str, Disturbed]]] = {}

    def _now_iso(self) -> str:
        return self.clock.iso_now()

    def drop(self, predicate: Callable[[Event], bool]) -> None:
        """Lose every future event for which `predicate(event)` is true."""
        self._drop.append(predicate)

    def disturb(
        self,
        *,
        drop: float = 0.0,
        duplicate: float = 0.0,
        late: float = 0.0,
        reorder: float = 0.0,
        late_by: tuple[timedelta, timedelta] = (timedelta(hours=1), timedelta(hours=6)),
        reorder_hold: timedelta = timedelta(hours=1),
        only: Callable[[Event], bool] = lambda event: True,
        seed: int = 1,
    ) -> Disturbance:
        """Lose, double, delay or reorder these fractions of the events `only` selects.

        A late event is delivered between `late_by` hours later; a reordered one waits until
        the next event about the same job or execution has been delivered (at most
        `reorder_hold`). Every disturbance is recorded in `disturbed`.
        """
        if drop + duplicate + late + reorder > 1:
            raise ValueError("the fractions of disturbed events add up to more than 1")
        disturbance = Disturbance(
            only, drop, duplicate, late, reorder, late_by, reorder_hold, random.Random(seed)
        )
        self._disturbances.append(disturbance)
        return disturbance

    def calm(self) -> None:
        """No more disturbances (events already late or held still arrive)."""
        self._disturbances.clear()
        self._drop.clear()

    def _disturbance(self, event: Event) -> str | None:
        for disturbance in self._disturbances:
            if disturbance.applies(event):
                return disturbance.draw()
        return None

    def _late_by(self, event: Event) -> timedelta:
        for disturbance in self._disturbances:
            if disturbance.applies(event):
                low, high = disturbance.late_by
                return low + (high - low) * disturbance.rng.random()
        return timedelta(0)

    def _hold(self, event: Event) -> timedelta:
        for disturbance in self._disturbances:
            if disturbance.applies(event):
                return disturbance.reorder_hold
        return timedelta(0)

    def envelope(
        self,
        account: str,
        region: str,
        source: str,
        detail_type: str,
        resources: list[str],
        detail: dict[str, Any],
    ) -> Event:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": account,
            "time": self._now_iso().split(".")[0] + "Z",
            "region": region,
            "resources": list(resources),
            "detail": detail,
        }

    def publish(self, account: str, region: str, event: Event, bus: str = "default") -> None:
        with self._lock:
            if any(predicate(event) for predicate in self._drop):
                self.dropped.append(event)
                return
            kind = self._disturbance(event)
            record = Disturbed(kind, event) if kind is not None else None
            if record is not None:
                self.disturbed.append(record)
            if kind == "drop":
                self.dropped.append(event)
                return
            if kind == "reorder":
                self._held.setdefault(subject(event), []).append(
                    (account, region, event, bus, record)
                )
            delay = self._late_by(event) if kind == "late" else self._hold(event)
        # The clock's lock is taken outside the router's: clock listeners publish events.
        if kind == "late":
            self.clock.call_at(
                self.clock.now() + delay,
                lambda: self._arrive(account, region, event, bus, record),
            )
            return
        if kind == "reorder":
            self.clock.call_at(
                self.clock.now() + delay, lambda: self._release(subject(event), only=event)
            )
            return
        self._arrive(account, region, event, bus, None)
        if kind == "duplicate":  # delivered again, the same event (EventBridge retries)
            self._arrive(account, region, event, bus, record)
        self._release(subject(event))

    def _arrive(
        self, account: str, region: str, event: Event, bus: str, record: Disturbed | None
    ) -> None:
        """Deliver an event now to the rules that match it."""
        with self._lock:
            if record is not None:
                record.delivered_at = self.clock.now()
            self.published.append((account, region, event))
            rules = self._matching_rules(account, region, bus, event)
        for rule in rules:
            self.deliver_to_targets(rule, event)

    def deliver_to_targets(self, rule: Any, event: Event) -> None:
        for target in rule.targets:
            self._deliver(rule, target, event)

    def _release(self, about: tuple[str, ...], only: Event | None = None) -> None:
        """Deliver the events held back about `about` (or just `only`, when its hold ends)."""
        with self._lock:
            held = self._held.get(about, [])
            chosen = [h for h in held if only is None or h[2] is only]
            self._held[about] = [h for h in held if h not in chosen]
        for account, region, event, bus, record in chosen:
            self._arrive(account, region, event, bus, record)

    def events(self, detail_type: str | None = None) -> list[tuple[str, str, Event]]:
        with self._lock:
            return [
                entry
                for entry in self.published
                if detail_type is None or entry[2]["detail-type"] == detail_type
            ]

    def _matching_rules(self, account: str, region: str, bus: str, event: Event) -> list[Any]:
        from moto.events.models import events_backends

        backend = events_backends[account][region]
        event_bus = backend.event_buses.get(bus) if hasattr(backend, "event_buses") else None
        if event_bus is None:
            return []
        return [
            rule
            for rule in list(event_bus.rules.values())
            # A rule without a pattern is a schedule; moto's matcher would match it to anything.
            if rule.state == "ENABLED"
            and rule.event_pattern.dump() is not None
            and rule.event_pattern.matches_event(event)  # type: ignore[arg-type]
        ]

    def _payload(self, target: dict[str, Any], event: Event) -> Any:
        from moto.events.utils import EventTemplateParser

        if "Input" in target:
            return json.loads(target["Input"])
        if "InputPath" in target:
            matches = [m.value for m in jsonpath(target["InputPath"]).find(event)]
            return matches[0] if matches else None
        if "InputTransformer" in target:
            transformer = target["InputTransformer"]
            return EventTemplateParser.parse(
                input_template=transformer.get("InputTemplate"),
                input_paths_map=transformer.get("InputPathsMap", {}),
                event=event,  # type: ignore[arg-type]
            )
        return event

    def _deliver(self, rule: Any, target: dict[str, Any], event: Event) -> None:
        arn = target["Arn"]
        parts = arn.split(":")
        service, region, account = parts[2], parts[3], parts[4]
        payload = self._payload(target, event)
        problem = unreachable(rule.arn, arn)
        with self._lock:
            if problem is not None:
                self.failed_deliveries.append(
                    Delivery(rule.arn, arn, event["id"], payload, problem)
                )
                return
            self.deliveries.append(Delivery(rule.arn, arn, event["id"], payload))
        with acting_as(account):
            if service == "states":
                from moto.stepfunctions.responses import get_backend

                get_backend(account, region).start_execution(
                    # The twin's start_execution names an unnamed execution, as AWS does.
                    arn,
                    name=None,  # type: ignore[arg-type]
                    execution_input=json.dumps(payload),
                )
            elif service == "sqs":
                from moto.sqs.models import sqs_backends

                queue_name = parts[5]
                sqs_backends[account][region].send_message(
                    queue_name, json.dumps(payload), message_attributes={}
                )
            elif service == "lambda":
                from moto.awslambda.models import lambda_backends

                function = lambda_backends[account][region].get_function(arn)
                function.invoke(json.dumps(payload), {"x-amz-invocation-type": "Event"}, {})
            elif service == "events" and ":event-bus/" in arn:
                self.publish(account, region, event, bus=arn.split(":event-bus/")[1])
            else:
                raise NotImplementedError(f"the twin cannot deliver to {arn}")


# -- schedules ---------------------------------------------------------------------------------

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT = {"minute": "minutes", "hour": "hours", "day": "days"}


def rate_of(expression: str) -> timedelta:
    """The period of a `rate(N unit)` schedule expression (docs/aws-facts.md §D.1)."""
    match = _RATE.match(expression.strip())
    if match is None:
        raise ValueError(f"the twin runs rate(...) schedules only, not {expression!r}")
    count, unit = int(match.group(1)), match.group(2)
    return timedelta(**{_UNIT.get(unit, unit): count})


@dataclass
class Schedule:
    account: str
    region: str
    rule_name: str
    expression: str
    every: timedelta
    next_at: datetime


class Schedules:
    """Rules with a ScheduleExpression fire on the virtual clock, one period after they are put
    and every period after, as long as they exist, are ENABLED and keep that expression."""

    def __init__(self, clock: VirtualClock, router: EventRouter) -> None:
        self.clock = clock
        self.router = router
        self._lock = threading.Lock()
        self._schedules: dict[tuple[str, str, str], Schedule] = {}
        self.fired: list[tuple[datetime, str]] = []  # (when, rule ARN)
        clock.on_advance(self._fire, next_due=self.next_due)

    def rule_put(self, account: str, region: str, name: str, expression: str | None) -> None:
        key = (account, region, name)
        with self._lock:
            if not expression:
                self._schedules.pop(key, None)
                return
            known = self._schedules.get(key)
            if known is not None and known.expression == expression:
                return  # a rule put again keeps its rhythm
            every = rate_of(expression)
            self._schedules[key] = Schedule(
                account, region, name, expression, every, self.clock.now() + every
            )

    def next_due(self) -> datetime | None:
        with self._lock:
            return min((s.next_at for s in self._schedules.values()), default=None)

    def _fire(self, now: datetime) -> None:
        while True:
            with self._lock:
                due = sorted(
                    (s for s in self._schedules.values() if s.next_at <= now),
                    key=lambda s: s.next_at,
                )
                if not due:
                    return
                schedule = due[0]
                at = schedule.next_at
                schedule.next_at = at + schedule.every
            self._deliver(schedule, at)

    def _deliver(self, schedule: Schedule, at: datetime) -> None:
        from moto.events.models import events_backends

        bus = events_backends[schedule.account][schedule.region].event_buses.get("default")
        rule = None if bus is None else bus.rules.get(schedule.rule_name)
        if rule is None or rule.scheduled_expression != schedule.expression:
            with self._lock:
                self._schedules.pop((schedule.account, schedule.region, schedule.rule_name), None)
            return
        if rule.state != "ENABLED":
            return
        event = self.router.envelope(
            schedule.account, schedule.region, "aws.events", "Scheduled Event", [rule.arn], {}
        )
        event["time"] = at.isoformat(timespec="seconds").replace("+00:00", "Z")
        self.fired.append((at, rule.arn))
        self.router.deliver_to_targets(rule, event)


_schedules: Schedules | None = None


def activate(schedules: Schedules | None) -> None:
    """Fire schedule rules on `schedules`' clock (None: stock moto, where they never fire)."""
    global _schedules
    _schedules = schedules


def install() -> None:
    from moto.events.models import EventsBackend

    if getattr(EventsBackend.put_rule, "_twin", False):
        return
    original = EventsBackend.put_rule

    def put_rule(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        rule = original(self, name, *args, **kwargs)
        if _schedules is not None and rule.event_bus_name == "default":
            _schedules.rule_put(self.account_id, self.region_name, name, rule.scheduled_expression)
        return rule

    put_rule._twin = True  # type: ignore[attr-defined]
    EventsBackend.put_rule = put_rule  # type: ignore[method-assign]
