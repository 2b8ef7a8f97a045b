"""Ending the processes a test started: by their own handle, politely first, always."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

STOP_TIMEOUT_S = 20.0


def stop_all(processes: Iterable[subprocess.Popen], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM each process still running (Locust then writes its files), SIGKILL it if it has not ended in time."""
    for process in processes:
        if process.poll() is not None:
            continue
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
