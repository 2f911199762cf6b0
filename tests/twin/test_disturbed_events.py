"""Events that arrive lost, twice, late or out of order (local/events.py `disturb`).

docs/aws-facts.md §A.1: AWS Backup sends events best effort (some are lost), batched and minutes
late, and EventBridge's target retries can deliver one twice; nothing promises their order.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.twin import Twin
from tests.twin.helpers import EFS, EFS_2, Layout

pytestmark = pytest.mark.twin

COPY_EVENTS = {"source": ["aws.backup"], "detail-type": ["Copy Job State Change"]}


def queue_of_copy_events(twin: Twin) -> Any:
    sqs = twin.client("sqs", RESOURCE_ACCOUNT, MAIN_REGION)
    url = sqs.create_queue(QueueName="CopyEvents")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = twin.client("events", RESOURCE_ACCOUNT, MAIN_REGION)
    events.put_rule(Name="Copies", EventPattern=json.dumps(COPY_EVENTS))
    events.put_targets(Rule="Copies", Targets=[{"Id": "Queue", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        messages = []
        while True:
            page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            if not page.get("Messages"):
                return messages
            for message in page["Messages"]:
                messages.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    return received


def states(events: list[dict[str, Any]]) -> list[str]:
    return [e["detail"]["state"] for e in events]


def test_a_late_event_arrives_hours_later_with_the_time_it_happened(
    layout: Layout, twin: Twin
) -> None:
    received = queue_of_copy_events(twin)
    point = layout.backed_up()
    twin.router.disturb(
        late=1.0,
        late_by=(timedelta(hours=3), timedelta(hours=3)),
        only=lambda e: e["detail"].get("state") == "COMPLETED",
    )
    layout.start_copy(point)
    layout.run(twin.backup.copy_duration)
    completed_at = twin.clock.now()
    assert states(received()) == ["CREATED", "RUNNING"]
    layout.run(timedelta(hours=3))
    [late] = received()
    assert late["detail"]["state"] == "COMPLETED"
    assert late["time"] == completed_at.isoformat().replace("+00:00", "Z")
    [record] = twin.router.disturbed
    assert (record.kind, record.delivered_at) == ("late", completed_at + timedelta(hours=3))


def test_a_reordered_event_is_overtaken_by_the_next_one_about_the_same_job(
    layout: Layout, twin: Twin
) -> None:
    received = queue_of_copy_events(twin)
    point = layout.backed_up()
    twin.router.disturb(reorder=1.0, only=lambda e: e["detail"].get("state") == "RUNNING")
    layout.start_copy(point)
    layout.run(twin.backup.copy_duration)
    assert states(received()) == ["CREATED", "COMPLETED", "RUNNING"]


def test_a_held_event_with_no_follower_arrives_when_its_hold_ends(
    layout: Layout, twin: Twin
) -> None:
    received = queue_of_copy_events(twin)
    point = layout.backed_up()
    twin.router.disturb(
        reorder=1.0,
        reorder_hold=timedelta(minutes=5),
        only=lambda e: e["detail"].get("state") == "COMPLETED",
    )
    layout.start_copy(point)
    layout.run(twin.backup.copy_duration)
    assert states(received()) == ["CREATED", "RUNNING"]
    layout.run(timedelta(minutes=5))
    assert states(received()) == ["COMPLETED"]


def test_a_duplicated_event_is_delivered_twice_with_one_id(layout: Layout, twin: Twin) -> None:
    received = queue_of_copy_events(twin)
    point = layout.backed_up()
    twin.router.disturb(duplicate=1.0, only=lambda e: e["detail"].get("state") == "COMPLETED")
    layout.start_copy(point)
    layout.run(twin.backup.copy_duration)
    completed = [e for e in received() if e["detail"]["state"] == "COMPLETED"]
    assert len(completed) == 2
    assert completed[0]["id"] == completed[1]["id"]


def test_fractions_are_drawn_with_a_seed_and_repeat() -> None:
    """The same seed disturbs the same events: a fault run can be replayed."""

    def run(seed: int) -> list[str]:
        with Twin() as twin:
            layout = Layout(twin)
            twin.router.disturb(drop=0.25, duplicate=0.25, late=0.25, reorder=0.25, seed=seed)
            for resource in (EFS, EFS_2) * 5:
                layout.backed_up(resource)
            return [d.kind for d in twin.router.disturbed]

    first, again = run(3), run(3)
    assert first == again
    assert set(Counter(first)) == {"drop", "duplicate", "late", "reorder"}
    assert run(4) != first
