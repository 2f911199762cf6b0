"""The twin that is currently running, for the moto patches to consult.

moto's classes are patched once per process; the patches read the running twin from here and
behave exactly like stock moto when no twin is running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local.twin import Twin


class _Active:
    twin: Twin | None = None


ACTIVE = _Active()


def running_twin() -> Twin | None:
    return ACTIVE.twin
