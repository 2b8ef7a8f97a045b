"""Free TCP ports on 127.0.0.1 for a Locust master, a web UI or a test server: the one place tests take ports from.

``free_port()`` never hands out a port of the kernel's ephemeral range (``bind(("127.0.0.1", 0))`` would): there,
a port released by the probe can be taken by any outgoing connection (a Locust run opens thousands) before the
server that was meant to bind it does. The ports come from 20000-31999 instead, a block of its own for each
pytest-xdist worker, starting at a random place in the block so that two test runs on one machine rarely meet; a
port that someone already listens on is skipped.
"""

from __future__ import annotations

import os
import random
import socket

FIRST, BLOCKS, BLOCK_SIZE = 20000, 12, 1000  # 20000-31999: below Linux's default ephemeral range (32768-60999)


def _block() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw3" under pytest-xdist; absent without it
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    start = FIRST + (index % BLOCKS) * BLOCK_SIZE
    return range(start, start + BLOCK_SIZE)


_block_ports = _block()
_next = random.randrange(len(_block_ports))


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port nobody listens on right now, outside the ephemeral range, not handed out before by this process."""
    global _next
    for _ in range(len(_block_ports)):
        port = _block_ports[_next % len(_block_ports)]
        _next += 1
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port in {_block_ports.start}-{_block_ports.stop - 1}")


def closed_port_url() -> str:
    """The URL of a loopback port nobody listens on: a target that refuses every connection."""
    return f"http://127.0.0.1:{free_port()}"
