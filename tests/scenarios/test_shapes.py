"""Load shapes: their schedules, their options, and how Locust picks one from a locustfile."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from locust.argument_parser import get_parser
from locust.main import merge_locustfiles_content

from scenarios.shapes import (
    RampLoadShape,
    RampPlan,
    SelectedLoadShape,
    StepLoadShape,
    StepPlan,
    ramp_target,
    step_target,
)

SHAPES_FILE = str(Path(__file__).resolve().parents[2] / "scenarios" / "shapes.py")


def test_step_schedule_adds_users_each_step_and_ends_after_the_last():
    plan = StepPlan(step_users=4, step_seconds=10, steps=3)
    assert [step_target(plan, t) for t in (0, 9.9, 10, 25, 29.9)] == [(4, 4.0), (4, 4.0), (8, 4.0), (12, 4.0), (12, 4.0)]
    assert step_target(plan, 30) is None
    assert (plan.duration_s, plan.peak_users) == (30, 12)


def test_step_ceiling_sets_the_step_count_and_caps_the_last_step():
    plan = StepPlan(step_users=4, step_seconds=10, steps=99, max_users=10, spawn_rate=2)
    assert plan.step_count == 3
    assert [step_target(plan, t) for t in (0, 10, 20)] == [(4, 2.0), (8, 2.0), (10, 2.0)]
    assert step_target(plan, 30) is None


def test_ramp_keeps_one_tick_until_ramp_and_hold_are_over():
    plan = RampPlan(peak_users=20, ramp_seconds=40, hold_seconds=10)
    assert ramp_target(plan, 0) == ramp_target(plan, 49.9) == (20, 0.5)
    assert ramp_target(plan, 50) is None


def _shape_with_options(shape_class, **options):
    shape = shape_class()
    shape.runner = SimpleNamespace(environment=SimpleNamespace(parsed_options=SimpleNamespace(**options)))
    return shape


def test_shapes_read_their_options_from_the_parsed_locust_options():
    options = vars(get_parser().parse_args(["--step-users", "3", "--steps", "2", "--ramp-max-users", "7"]))
    assert _shape_with_options(StepLoadShape, **options).tick() == (3, 3.0)
    assert _shape_with_options(RampLoadShape, **options).tick() == (7, 7 / 120)
    assert _shape_with_options(SelectedLoadShape, **options).tick() == (3, 3.0)
    options["load_shape"] = "ramp"
    assert _shape_with_options(SelectedLoadShape, **options).tick() == (7, 7 / 120)


def test_web_ui_string_values_are_accepted():
    shape = _shape_with_options(StepLoadShape, step_users="6", step_seconds="15", steps="2")
    assert shape.tick() == (6, 6.0)


def test_shapes_without_a_runner_use_the_documented_defaults():
    assert StepLoadShape().tick() == (5, 5.0)
    assert StepPlan().duration_s == 180 and StepPlan().peak_users == 30


@pytest.mark.parametrize("argv", [["--step-users", "0"], ["--step-seconds", "-1"], ["--steps", "two"],
                                  ["--load-shape", "spike"], ["--ramp-hold-seconds", "nan"]])
def test_bad_shape_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        get_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_zero_hold_is_allowed():
    assert get_parser().parse_args(["--ramp-hold-seconds", "0"]).ramp_hold_seconds == 0


def test_locust_runs_the_selected_shape_when_this_module_is_a_locustfile():
    # What `locust -f locustfile.py,scenarios/shapes.py` does: the first shape found drives the run.
    _, shapes, _, chosen = merge_locustfiles_content([SHAPES_FILE])
    assert list(shapes) == ["SelectedLoadShape", "StepLoadShape", "RampLoadShape"]
    assert type(chosen).__name__ == "SelectedLoadShape"


def test_options_are_registered_once_even_if_the_module_is_loaded_twice():
    merge_locustfiles_content([SHAPES_FILE])  # loads it as the module "shapes" beside "scenarios.shapes"
    parser = get_parser()
    assert sum("--step-users" in action.option_strings for action in parser._actions) == 1


def test_shape_options_are_read_from_locust_conf(tmp_path):
    conf = tmp_path / "locust.conf"
    conf.write_text("load-shape = ramp\nstep-users = 7\nramp-max-users = 12\n", encoding="utf-8")
    options = get_parser(default_config_files=[str(conf)]).parse_args([])
    assert (options.load_shape, options.step_users, options.ramp_max_users) == ("ramp", 7, 12)
    assert _shape_with_options(SelectedLoadShape, **vars(options)).tick() == (12, 12 / 120)
