"""While a run drives the embedded simulator, sample its component accounting into the results folder.

The launcher starts a `ComponentSampler` on the simulator it started (never on a configured target). A daemon
thread reads GET /__admin/stats every `interval_s` and appends one JSON line to `components.jsonl`:

    {"t": <epoch seconds>, "components": {"<name>": {"kind", "capacity", "calls", "busy_s", "queue_wait_s",
                                                     "rejections", ...}}}

Counters are cumulative in the simulator: the capacity report (analysis/capacity_components.py) takes differences
between samples to get each component's utilisation and queue wait during a plateau. Standard library only; the
simulator is reached over HTTP (harness never imports simulator).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from common.results_format import COMPONENTS_FILE
from harness.simulator_process import SimulatorAdminError, SimulatorProcess

DEFAULT_INTERVAL_S = 2.0


class ComponentSampler:
    def __init__(self, simulator: SimulatorProcess, results_dir: Path, interval_s: float = DEFAULT_INTERVAL_S):
        self._simulator = simulator
        self._path = Path(results_dir) / COMPONENTS_FILE
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="component-sampler", daemon=True)
        self.samples = 0

    def __enter__(self) -> "ComponentSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval_s + 15)
        self._sample()  # the last state, after the run

    def _sample(self) -> None:
        try:
            components = self._simulator.stats().get("components")
        except SimulatorAdminError:
            return  # the simulator is gone or busy: a missing sample is a gap, not an error
        if not components:
            return
        line = json.dumps({"t": round(time.time(), 3), "components": components}, separators=(",", ":"))
        try:
            with open(self._path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            self.samples += 1
        except OSError:
            pass

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()
