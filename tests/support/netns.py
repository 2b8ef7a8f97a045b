"""Test hosts in network namespaces: addresses that are not loopback, on links this test made and removes.

Some behaviour can only be shown across real network addresses: the guards refuse non-loopback targets, and a
master, its workers and the target on separate hosts talk over their own addresses. The workplace allows such
traffic only to test hosts the test created itself, so::

    with namespace_network("sim", "master", "worker1") as hosts:   # one bridge, 10.231.<n>.0/24
        hosts["sim"].address                                   # "10.231.<n>.2", reachable from every host
        hosts["sim"].command("python", "-m", "simulator")      # argv run inside that host's namespace
    with namespace_host() as host: ...                         # one host

Every host is a network namespace with a veth pair into a bridge in the root namespace, which holds .1, so the
hosts reach each other and this (root) namespace reaches them all. Creating namespaces needs root and iproute2;
where either is missing, ``NamespaceUnavailable`` says why in one line, and a test turns that into a skip.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

# 10.231.0.0/16 is our own: every network gets a /24 inside it. Nothing outside the namespaces this module creates
# is ever addressed.
SUBNET_PREFIX = "10.231"


class NamespaceUnavailable(RuntimeError):
    """This machine cannot make network namespaces (not root, no iproute2, or the kernel refuses)."""


@dataclass(frozen=True)
class TestHost:
    name: str
    namespace: str
    address: str  # the host's address, inside its namespace
    gateway: str  # the bridge's address, in the root namespace

    __test__ = False  # not a pytest test class

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespace (ip-netns execs it, so its parent stays the caller)."""
        return ["ip", "netns", "exec", self.namespace, *argv]


def _ip(*args: str) -> None:
    completed = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if completed.returncode != 0:
        raise NamespaceUnavailable(f"`ip {' '.join(args)}` failed: {completed.stderr.strip() or completed.returncode}")


def _unused_subnet_number() -> int:
    """A /24 in 10.231.0.0/16 that no interface here holds yet (other test runs may hold test networks too)."""
    taken = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=10).stdout
    free = [n for n in range(1, 251) if f" {SUBNET_PREFIX}.{n}.1/" not in taken]
    if not free:
        raise NamespaceUnavailable(f"every test subnet {SUBNET_PREFIX}.1-250.0/24 is in use")
    return random.choice(free)


def _check_possible() -> None:
    if shutil.which("ip") is None:
        raise NamespaceUnavailable("no `ip` command (Debian package iproute2)")
    if os.geteuid() != 0:
        raise NamespaceUnavailable("network namespaces need root")


@contextmanager
def namespace_network(*names: str) -> Iterator[dict[str, TestHost]]:
    """Hosts ``names`` on one bridge; everything is removed on exit, whatever happened."""
    _check_possible()
    number = _unused_subnet_number()
    tag = f"{os.getpid() % 100000}x{number}"
    bridge = f"ppb{tag}"
    with ExitStack() as cleanup:
        _ip("link", "add", bridge, "type", "bridge")
        cleanup.callback(subprocess.run, ["ip", "link", "del", bridge], capture_output=True, timeout=10)
        _ip("addr", "add", f"{SUBNET_PREFIX}.{number}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        hosts = {}
        for index, name in enumerate(names, start=2):
            namespace, outside, inside = f"pp-{tag}-{index}", f"ppo{tag}-{index}", f"ppi{tag}-{index}"
            _ip("netns", "add", namespace)
            cleanup.callback(subprocess.run, ["ip", "netns", "del", namespace], capture_output=True, timeout=10)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            cleanup.callback(subprocess.run, ["ip", "link", "del", outside], capture_output=True, timeout=10)
            _ip("link", "set", inside, "netns", namespace)
            _ip("link", "set", outside, "master", bridge)
            _ip("link", "set", outside, "up")
            address = f"{SUBNET_PREFIX}.{number}.{index}"
            _ip("netns", "exec", namespace, "ip", "addr", "add", f"{address}/24", "dev", inside)
            _ip("netns", "exec", namespace, "ip", "link", "set", inside, "up")
            _ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
            hosts[name] = TestHost(name, namespace, address, f"{SUBNET_PREFIX}.{number}.1")
        yield hosts


@contextmanager
def namespace_host() -> Iterator[TestHost]:
    """One test host (see ``namespace_network``)."""
    with namespace_network("host") as hosts:
        yield hosts["host"]
