"""The capacity report's component side: utilisation, queue wait and the saturated component from the launcher's
components.jsonl samples (analysis/capacity_components.py), with hand-made samples whose answers are known."""

from __future__ import annotations

import json

import pytest

from analysis.capacity_components import load_in_window, load_samples, saturated_component
from analysis.errors import InputError


def sample(t: float, **components) -> dict:
    return {"t": t, "components": components}


def pool(capacity: int, calls: int, busy_s: float, queue_wait_s: float = 0.0, rejected: int = 0) -> dict:
    return {"kind": "pool", "capacity": capacity, "calls": calls, "busy_s": busy_s, "queue_wait_s": queue_wait_s,
            "rejections": {"queue_full": rejected, "queue_timeout": 0}}


def rate(capacity: float, calls: int, queue_wait_s: float = 0.0) -> dict:
    return {"kind": "rate", "capacity": capacity, "calls": calls, "busy_s": 0.0, "queue_wait_s": queue_wait_s,
            "rejections": {"over_quota": 0}}


def write(tmp_path, records) -> None:
    (tmp_path / "components.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_utilisation_queue_wait_and_the_saturated_component(tmp_path):
    write(tmp_path, [
        sample(100.0, gotrue=pool(10, 0, 0.0), orchestrator=pool(4, 0, 0.0), hunter=rate(8.0, 0)),
        sample(110.0, gotrue=pool(10, 50, 2.0), orchestrator=pool(4, 20, 10.0), hunter=rate(8.0, 16)),
        # 10 s later: the orchestrator's 4 slots busy 95 % of the time, and calls waited 300 ms each for one
        sample(120.0, gotrue=pool(10, 100, 4.0), orchestrator=pool(4, 40, 48.0, queue_wait_s=6.0),
               hunter=rate(8.0, 40)),
    ])
    samples = load_samples(tmp_path)
    quiet = load_in_window(samples, 100.0, 110.0)
    assert {load.name: round(load.utilisation, 3) for load in quiet} == {"gotrue": 0.02, "orchestrator": 0.25,
                                                                          "hunter": 0.2}
    assert saturated_component(quiet) is None  # nothing near its capacity
    busy = load_in_window(samples, 110.0, 120.0)
    top = saturated_component(busy)
    assert top is not None and top.name == "orchestrator"
    assert top.utilisation == pytest.approx(0.95) and top.queue_wait_ms_per_call == pytest.approx(300.0)
    assert "95% of 4 slots" in top.describe() and "300 ms queue wait" in top.describe()
    hunter = next(load for load in busy if load.name == "hunter")
    assert hunter.utilisation == pytest.approx(24 / 80)  # 24 calls of an 8/s quota over 10 s


def test_rejections_rank_a_component_first_even_when_another_is_busier(tmp_path):
    write(tmp_path, [sample(0.0, a=pool(10, 0, 0.0), b=pool(2, 0, 0.0)),
                     sample(10.0, a=pool(10, 100, 85.0), b=pool(2, 10, 12.0, rejected=3))])
    loads = load_in_window(load_samples(tmp_path), 0.0, 10.0)
    assert [load.name for load in loads] == ["b", "a"] and loads[0].rejections == 3


def test_no_file_is_no_answer_and_a_damaged_file_is_one_line(tmp_path):
    assert load_samples(tmp_path) is None
    (tmp_path / "components.jsonl").write_text('{"t": 1, "components": {}}\nnot json\n{"t": 2, "components": {}}\n')
    with pytest.raises(InputError, match="line 2 is not a component sample"):
        load_samples(tmp_path)
    (tmp_path / "components.jsonl").write_text('{"t": 1, "components": {}}\n{"t": 2, "comp')  # cut off at the end
    assert len(load_samples(tmp_path)) == 1
