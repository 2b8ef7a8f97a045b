"""Which component of the target saturates: the simulator's component accounting during each plateau.

Input: `components.jsonl` in the results folder, written by the launcher when it drove the embedded simulator
(harness/component_samples.py): one line per sample, {"t": epoch seconds, "components": {name: counters}}, the
counters cumulative (calls, busy_s, queue_wait_s, rejections). Over a window [start, end] the difference between
the samples closest to its edges gives, per component:

    utilisation   pool: busy seconds / (capacity x window seconds), the share of its slots in use
                  rate: calls / (capacity x window seconds), the share of the third-party quota spent
    queue wait    seconds waited per call (pool: for a slot; rate: for quota)
    rejections    calls turned away (queue full, queue timeout, over quota)

The saturated component of a plateau is the one with the highest utilisation, a component that rejected calls or
made them wait ranking first (a queue only forms at saturation). Pure functions plus one loader; no import of the
simulator (the file is the contract, documented in docs/architecture.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import InputError
from common.results_format import COMPONENTS_FILE

SATURATED_UTILISATION = 0.8  # at or above this share in use a pool queues noticeably (M/M/c: waits grow fast)


@dataclass(frozen=True)
class Sample:
    t: float
    components: dict[str, dict]


@dataclass(frozen=True)
class ComponentLoad:
    name: str
    kind: str
    capacity: float
    calls: int
    utilisation: float
    queue_wait_ms_per_call: float
    rejections: int

    @property
    def saturated(self) -> bool:
        return self.rejections > 0 or self.utilisation >= SATURATED_UTILISATION

    def describe(self) -> str:
        text = f"`{self.name}` {self.utilisation:.0%} of {'its quota' if self.kind == 'rate' else f'{self.capacity:g} slots'}"
        if self.queue_wait_ms_per_call >= 1:
            text += f", {self.queue_wait_ms_per_call:.0f} ms queue wait per call"
        if self.rejections:
            text += f", {self.rejections} rejected"
        return text


def load_samples(results: Path) -> list[Sample] | None:
    """The run's component samples, or None when the run has none (a remote target, or an older run)."""
    path = Path(results) / COMPONENTS_FILE
    if not path.is_file():
        return None
    samples = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise InputError(f"cannot read ({error.strerror})", path=path) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            samples.append(Sample(float(record["t"]), dict(record["components"])))
        except (ValueError, KeyError, TypeError):
            if number == len(lines):
                continue  # a last line cut off by the end of the run
            raise InputError(f"line {number} is not a component sample", path=path,
                             hint="components.jsonl is written by the launcher; do not edit it") from None
    samples.sort(key=lambda sample: sample.t)
    return samples


def _rejections(counters: dict) -> int:
    return int(sum((counters.get("rejections") or {}).values()))


def load_in_window(samples: list[Sample], start: float, end: float) -> list[ComponentLoad]:
    """Each component's load between the samples nearest `start` and `end` (epoch seconds), busiest first."""
    if len(samples) < 2:
        return []
    first = min(samples, key=lambda sample: abs(sample.t - start))
    last = min(samples, key=lambda sample: abs(sample.t - end))
    window = last.t - first.t
    if window <= 0:
        return []
    loads = []
    for name, after in last.components.items():
        before = first.components.get(name)
        if before is None:
            continue
        capacity = float(after.get("capacity") or 0)
        calls = int(after.get("calls", 0)) - int(before.get("calls", 0))
        if after.get("kind") == "rate":
            utilisation = calls / (capacity * window) if capacity else 0.0
        else:
            busy = float(after.get("busy_s", 0)) - float(before.get("busy_s", 0))
            utilisation = busy / (capacity * window) if capacity else 0.0
        waited = float(after.get("queue_wait_s", 0)) - float(before.get("queue_wait_s", 0))
        loads.append(ComponentLoad(name, str(after.get("kind", "pool")), capacity, calls, max(0.0, utilisation),
                                   1000 * waited / calls if calls > 0 else 0.0,
                                   max(0, _rejections(after) - _rejections(before))))
    loads.sort(key=lambda load: (load.rejections > 0 or load.queue_wait_ms_per_call >= 1, load.utilisation),
               reverse=True)
    return loads


def saturated_component(loads: list[ComponentLoad]) -> ComponentLoad | None:
    """The component that limits the system in this window: the busiest, if it is saturated at all."""
    return loads[0] if loads and loads[0].saturated else None
