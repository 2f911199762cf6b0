"""The dashboard's figures (tasks/metrics.py): storage no longer paid for after a cut."""

from __future__ import annotations

import pytest

from tasks.metrics import gb_days


@pytest.mark.parametrize(
    ("size", "days", "figure"),
    [
        (36048, 27, 0.001),  # the quick-start EFS backup: 36 kB for 27 days
        (21_474_836_480, 27, 579.821),  # a 20 GiB RDS snapshot, in AWS's 10^9-byte gigabytes
        (1_000_000_000, 1, 1.0),
    ],
)
def test_gigabyte_days_no_longer_paid_for(size: int, days: int, figure: float) -> None:
    assert gb_days(size, days) == figure


@pytest.mark.parametrize(
    ("size", "days"), [(None, 27), (0, 27), (36048, None), (36048, 0), (1, -3)]
)
def test_nothing_saved_is_zero_never_negative(size: int | None, days: int | None) -> None:
    # A retention that was "never" has no days removed to count; a size may be unknown.
    assert gb_days(size, days) == 0.0
