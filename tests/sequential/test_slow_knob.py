"""The simulator's --slow FUNCTION=FACTOR knob: one function's latency multiplied, the others untouched."""

import random

import pytest

from simulator.config import ConfigError, parse_config
from simulator.latency import LatencyModel
from simulator.profiles import load_model

MODEL = load_model()
HEALTHY = MODEL.profiles["healthy"]
EXPORT = "campaign-export-user-aware"


def test_slow_multiplies_one_function_and_leaves_the_rest_alone():
    plain = LatencyModel(MODEL, random.Random(1), 1.0, {})
    slowed = LatencyModel(MODEL, random.Random(1), 1.0, {}, slow={EXPORT: 1.3})
    for endpoint_class in (EXPORT, "rest", "enrichment-orchestrator", EXPORT):  # same seed: the same draws
        expected = plain.seconds(endpoint_class, HEALTHY, items=50)
        factor = 1.3 if endpoint_class == EXPORT else 1.0
        assert slowed.seconds(endpoint_class, HEALTHY, items=50) == pytest.approx(expected * factor)


def test_slow_flag_parses_and_bad_values_are_one_line():
    profiles = set(MODEL.profiles)
    config = parse_config(["--slow", f"{EXPORT}=1.3", "--slow", "enrichment-orchestrator=2"], profiles)
    assert config.slow == {EXPORT: 1.3, "enrichment-orchestrator": 2.0}
    with pytest.raises(ConfigError, match="--slow: unknown function 'nope'"):
        parse_config(["--slow", "nope=1.3"], profiles)
    with pytest.raises(ConfigError, match="must be greater than 0"):
        parse_config(["--slow", f"{EXPORT}=0"], profiles)
