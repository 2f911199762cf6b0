"""A property of CutOriginalRetention against the twin (issue 11's acceptance, at task level).

For any backup copied by the workflow's tasks, then anything people do before the cut runs
(lengthen or shorten the original, give it a cold rule, shorten or delete a copy, let days
pass), the cut either writes nothing at all, or leaves every copy expiring no earlier than the
original would have just before the cut. Examples are few (each is a backup, two copies and a
cut in the twin); the pure rules have their own, larger properties in test_retention.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.errors import TaskError
from tests.unit.conftest import DAY, EFS, World, _world

_names = itertools.count()

# What a person may do between the copies and the cut.
actions = st.one_of(
    st.tuples(st.just("set original"), st.integers(1, 400)),
    st.tuples(st.just("cold rule"), st.integers(91, 400)),
    st.tuples(st.just("set copy"), st.integers(0, 1), st.integers(1, 400)),
    st.tuples(st.just("delete copy"), st.integers(0, 1)),
    st.tuples(st.just("wait days"), st.integers(0, 12)),
)


@pytest.fixture(scope="module")
def property_world() -> Iterator[World]:
    """One twin for every example; each example is a backup of a resource of its own."""
    yield from _world()


def expiry(world: World, arn: str) -> datetime | None:
    """When AWS will delete the point, as the twin plans it; None: never."""
    point = world.twin.backup.points[arn]
    return None if point.deleted else point.delete_at()


def act(world: World, original: str, copies: list[str], action: tuple[Any, ...]) -> None:
    kind = action[0]
    try:
        if kind == "set original":
            world.set_lifecycle(original, {"DeleteAfterDays": action[1]})
        elif kind == "cold rule":
            world.set_lifecycle(
                original, {"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": action[1]}
            )
        elif kind == "set copy":
            world.set_lifecycle(copies[action[1]], {"DeleteAfterDays": action[2]})
        elif kind == "delete copy":
            world.delete(copies[action[1]])
        else:
            world.twin.clock.advance(action[1] * DAY)
    except ClientError:
        pass  # AWS refused the person's change (a cold setting is frozen): nothing changed


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    kept=st.integers(2, 400),
    done=st.lists(actions, max_size=3),
)
def test_property_a_cut_writes_nothing_or_leaves_every_copy_outliving_the_original(
    property_world: World, kept: int, done: list[tuple[Any, ...]]
) -> None:
    world = property_world
    resource = EFS.replace("fs-0a1b2c3d4e5f67890", f"fs-{next(_names):017x}")
    original = world.backup(resource=resource, lifecycle={"DeleteAfterDays": kept})
    known = world.copy_both(original)
    copies = [world.copy_of(original, n) for n in (0, 1)]
    for action in done:
        act(world, original, copies, action)

    before = expiry(world, original)
    writes, ledger = world.writes(), world.ledger()
    try:
        result = world.run("CutRetention", world.cut_input(original, known))
    except TaskError:
        # Refused by name (copies gone or too short, nothing left to cut, ...): nothing written.
        assert world.twin.backup.write_calls()[writes:] == []
        assert world.ledger() == ledger
        return
    if result["Action"] != "update":
        assert world.twin.backup.write_calls()[writes:] == []
        return
    after = expiry(world, original)
    assert after is not None
    assert before is None or after < before
    for copy in copies:
        lives = expiry(world, copy)
        assert not world.twin.backup.points[copy].deleted
        if lives is None:
            continue
        assert lives >= after
        if before is None:
            assert lives >= world.twin.backup.points[copy].creation_date + timedelta(days=36500)
        else:
            assert lives >= before
