"""A test host in a network namespace: an address that is not loopback, on a link this test made and removes.

Some behaviour can only be shown against a target that is not 127.0.0.1: the guards refuse non-loopback targets,
and workers on other hosts reach the master over a real network address. The workplace allows load to such an
address only when it belongs to a test host the test created itself, so::

    with namespace_host() as host:              # namespace pp-<pid>-<n>, veth pair, 10.231.<n>.0/30
        host.address                        # "10.231.<n>.2", reachable from this (the root) namespace
        host.command("python", "-m", "simulator", "--host", host.address)   # runs inside the namespace

Creating namespaces needs root and iproute2; where either is missing, ``namespace_host`` raises ``NamespaceUnavailable``
with one line saying why, and a test turns that into a skip with that line.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# 10.231.0.0/16 is our own: every host gets a /30 inside it (root side .1, namespace side .2). Nothing outside the
# namespaces this module creates is ever addressed.
SUBNET_PREFIX = "10.231"


class NamespaceUnavailable(RuntimeError):
    """This machine cannot make network namespaces (not root, no iproute2, or the kernel refuses)."""


@dataclass(frozen=True)
class TestHost:
    namespace: str
    address: str  # the host's address, inside the namespace
    gateway: str  # this side of the link, in the root namespace

    __test__ = False  # not a pytest test class

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespace (the process's parent stays the caller: ip-netns execs)."""
        return ["ip", "netns", "exec", self.namespace, *argv]


def _ip(*args: str) -> None:
    completed = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if completed.returncode != 0:
        raise NamespaceUnavailable(f"`ip {' '.join(args)}` failed: {completed.stderr.strip() or completed.returncode}")


def _unused_subnet_number() -> int:
    """A /30 in 10.231.0.0/16 that no interface here holds yet (other test runs may hold test hosts too)."""
    taken = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=10).stdout
    free = [n for n in range(1, 251) if f" {SUBNET_PREFIX}.{n}.1/" not in taken]
    if not free:
        raise NamespaceUnavailable(f"every test subnet {SUBNET_PREFIX}.1-250.0/30 is in use")
    return random.choice(free)


@contextmanager
def namespace_host() -> Iterator[TestHost]:
    if shutil.which("ip") is None:
        raise NamespaceUnavailable("no `ip` command (Debian package iproute2)")
    if os.geteuid() != 0:
        raise NamespaceUnavailable("network namespaces need root")
    number = _unused_subnet_number()
    namespace = f"pp-{os.getpid()}-{number}"
    outside, inside = f"ppo{os.getpid() % 10000}x{number}", f"ppi{os.getpid() % 10000}x{number}"
    host = TestHost(namespace, f"{SUBNET_PREFIX}.{number}.2", f"{SUBNET_PREFIX}.{number}.1")
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        try:
            _ip("link", "set", inside, "netns", namespace)
            _ip("addr", "add", f"{host.gateway}/30", "dev", outside)
            _ip("link", "set", outside, "up")
            _ip("netns", "exec", namespace, "ip", "addr", "add", f"{host.address}/30", "dev", inside)
            _ip("netns", "exec", namespace, "ip", "link", "set", inside, "up")
            _ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
            yield host
        finally:
            subprocess.run(["ip", "link", "del", outside], capture_output=True, timeout=10)
    finally:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10)
