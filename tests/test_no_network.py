"""The suite never reaches the network: every AWS answer comes from the twin, in-process.

pytest-socket (pyproject.toml addopts) refuses any Internet socket a test opens; the
worker processes of pytest-xdist talk over pipes and need none.
"""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketBlockedError


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_a_test_cannot_open_an_internet_socket(family: socket.AddressFamily) -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(family, socket.SOCK_STREAM)
