"""Switching a simulator's fault profile in the middle of a run by the run's progress, not by the clock.

A timer ("outage after 2.5 s") depends on how fast Locust starts: on a busy machine the timer fires before the
first request and the run never sees the healthy part. Here the switch waits for what the simulator has served::

    with switch_when(simulator, "outage", lambda stats: signed_in(stats) >= 2):
        run = run_locust(...)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

POLL_S = 0.1


def served(stats: dict, key: str) -> int:
    """How many requests of ``key`` ("<METHOD> <path>", as the simulator counts them) it has answered."""
    return sum(stats["served"].get(key, {}).values())


@contextmanager
def switch_when(simulator, profile: str, ready: Callable[[dict], bool]) -> Iterator[threading.Event]:
    """Switch ``simulator`` to ``profile`` as soon as ``ready(simulator.stats())`` holds; the event it yields is set
    once it has switched. Leaving the block stops the watcher (whether or not it switched)."""
    stop, switched = threading.Event(), threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if ready(simulator.stats()):
                simulator.set_profile(profile)
                switched.set()
                return
            stop.wait(POLL_S)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield switched
    finally:
        stop.set()
        watcher.join(timeout=10)
