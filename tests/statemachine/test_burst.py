"""A burst of backups completing at once: the small, fast version of `make bench`'s burst.

A hundred on-demand backups complete at the same moment in one account and region, 30 % of
all AWS Backup calls are throttled, and AWS's quotas hold (one job per resource, at most 100
copies running towards one destination region; aws-facts.md §B.8). Every backup must end with
two verified copies and a cut original, with no duplicate copy job.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench

pytestmark = [pytest.mark.statemachine, pytest.mark.twin, pytest.mark.slow]


def test_a_throttled_burst_copies_and_cuts_every_backup_exactly_once() -> None:
    started = time.monotonic()
    result = bench.burst(100, 0.3, seed=7)

    assert result.completed == 100
    assert result.duplicate_copy_jobs == 0
    # The throttling really happened, and was absorbed by retries with backoff.
    assert result.throttled_calls > 100
    assert result.max_transitions <= 40
    assert time.monotonic() - started < 60
