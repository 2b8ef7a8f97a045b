"""The simulator's --slow FUNCTION=FACTOR knob: one function's latency multiplied, the others untouched."""

import pytest

from simulator.config import ConfigError, parse_config
from simulator.profiles import load_model

MODEL = load_model()
EXPORT = "campaign-export-user-aware"


def test_slow_flag_parses_and_bad_values_are_one_line():
    profiles = set(MODEL.profiles)
    config = parse_config(["--slow", f"{EXPORT}=1.3", "--slow", "enrichment-orchestrator=2"], profiles)
    assert config.slow == {EXPORT: 1.3, "enrichment-orchestrator": 2.0}
    with pytest.raises(ConfigError, match="--slow: unknown function 'nope'"):
        parse_config(["--slow", "nope=1.3"], profiles)
    with pytest.raises(ConfigError, match="must be at least 1"):
        parse_config(["--slow", f"{EXPORT}=0.5"], profiles)


def test_slow_stretches_a_function_whose_time_is_its_fan_out():
    """The orchestrator's time is its sibling and provider calls (the twin), not one draw of its own: --slow still
    makes the whole call FACTOR times as long, measured on two real simulators (same seed, same requests)."""
    import statistics
    import time

    from harness.simulator_process import start_simulator
    from tests.simulator.conftest import Api

    body = {"businessName": "Example Coffee Co", "domain": "examplecoffee.com", "address": "1 Pike St, Seattle, WA",
            "tier": "professional", "maxCostPerBusiness": 0.5}  # fmt: skip

    def median_ms(*extra: str) -> float:
        with start_simulator("--profile", "healthy", "--time-scale", "0.2", "--seed", "3", *extra) as process:
            api = Api(process.url)
            api.sign_in(1)
            took = []
            for _ in range(15):
                started = time.perf_counter()
                assert api.function("enrichment-orchestrator", body).status == 200
                took.append((time.perf_counter() - started) * 1000)
            return statistics.median(took)

    plain, slowed = median_ms(), median_ms("--slow", "enrichment-orchestrator=2")
    assert 1.6 < slowed / plain < 2.5, (plain, slowed)
