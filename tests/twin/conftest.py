"""A fresh twin per test: moto plus the project's patches, on a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.twin import Twin
from tests.twin.helpers import Layout


@pytest.fixture
def twin() -> Iterator[Twin]:
    with Twin() as running:
        yield running


@pytest.fixture
def layout(twin: Twin) -> Layout:
    return Layout(twin)
