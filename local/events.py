"""EventBridge delivery for the twin: AWS-shaped events, routed by moto's own rules.

Stock moto cannot deliver to Step Functions or Lambda targets, drops `resources` and `account`
when it forwards, and looks up SQS targets only in the rule's account
(local-testing.md §3). The twin publishes service events itself:

- the envelope is AWS's (`version, id, detail-type, source, account, time, region,
  resources, detail`), with `time` on the virtual clock;
- an event goes onto the default bus of the account and region where it happened, and only
  the rules there see it (aws-facts.md §A.4);
- each enabled rule whose pattern matches (moto's pattern matcher, which handles the
  operators we use) delivers to its targets with Input, InputPath or InputTransformer
  applied: Step Functions (StartExecution, generated name), SQS, Lambda (in-process
  runtime) and another event bus (forwarded with `account` kept); rules without a pattern
  (schedules) see no events;
- only the targets AWS can reach (aws-facts.md §D.2): an event bus in any account and region;
  SQS and Lambda in any account of the rule's region; Step Functions only in the rule's own
  account and region. Other targets are not invoked: the attempt is recorded in
  `failed_deliveries`, as AWS would only count a FailedInvocation;
- `drop(predicate)` loses chosen events, because AWS Backup delivers "best effort"
  (aws-facts.md §A.1).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonpath_ng.parser import parse as jsonpath

from local.accounts import acting_as

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
    """Why a rule cannot deliver to this target in AWS, or None if it can (aws-facts.md §D.2)."""
    rule_region, rule_account = rule_arn.split(":")[3:5]
    service, region, account = target_arn.split(":")[2:5]
    if service == "events":
        return None
    if region != rule_region:
        return f"{target_arn} is not in the rule's region {rule_region}"
    if account != rule_account and service not in _CROSS_ACCOUNT_SERVICES:
        return f"{service} targets cannot be in another account than the rule ({rule_account})"
    return None


class EventRouter:
    def __init__(self, now_iso: Callable[[], str]) -> None:
        self._now_iso = now_iso
        self._lock = threading.RLock()
        self.published: list[tuple[str, str, Event]] = []
        self.deliveries: list[Delivery] = []
        self.failed_deliveries: list[Delivery] = []
        self._drop: list[Callable[[Event], bool]] = []
        self.dropped: list[Event] = []

    def drop(self, predicate: Callable[[Event], bool]) -> None:
        """Lose every future event for which `predicate(event)` is true."""
        self._drop.append(predicate)

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
            self.published.append((account, region, event))
            rules = self._matching_rules(account, region, bus, event)
        for rule in rules:
            for target in rule.targets:
                self._deliver(rule, target, event)

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
