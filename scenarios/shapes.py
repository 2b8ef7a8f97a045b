"""Named load shapes for capacity work: a step shape and a ramp shape, set from the command line or locust.conf.

How Locust 2.47 picks a shape (read from locust/main.py and locust/util/load_locustfile.py):
  * Every concrete ``LoadTestShape`` subclass found in a locustfile's module namespace is instantiated at load time,
    in namespace order (definition/import order); with several ``-f`` files their shapes are merged in file order.
  * Headless, and in the web UI without ``--class-picker``, the FIRST of them drives the run, always. There is no
    command-line option that names a shape: class names on the command line select User classes only (a shape name
    there is "Unknown User(s)", exit 1).
  * With ``--class-picker`` the web UI offers a shape drop-down: "Default" (no shape: users and spawn rate from the
    form), then the shapes sorted by name.
  * A shape ignores ``--users``, ``--spawn-rate`` and, headless, ``--run-time`` too (Locust warns; its run-time timer
    only starts after the shape has finished). So every shape here ends by itself: ``tick`` returns None after
    the shape's duration, which is what bounds a capacity run.
So importing a shape into locustfile.py turns EVERY run of that file into a shaped run. The harness keeps
locustfile.py shape-free and adds this module for capacity runs: ``locust -f locustfile.py,scenarios/shapes.py``.
``SelectedLoadShape`` is defined first so that it is the one Locust runs; it plays the shape named by
``--load-shape`` (step by default), which is how a shape is chosen from the command line or locust.conf.

Each shape's schedule is a pure function of the elapsed time (``step_target``, ``ramp_target``) so that it can be
tested without a runner and both the dispatcher and the named classes share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, overload

from locust import LoadTestShape, events

from analysis.argtypes import non_negative_float, positive_float, positive_int

# A tick is (total users, spawn rate per second), or None to end the run.
Tick = tuple[int, float] | None


@dataclass(frozen=True)
class StepPlan:
    """``steps`` plateaus of ``step_users`` more users each, ``step_seconds`` long (the ramp-up is inside the step).

    Default: 6 steps x 30 s = 3 min, peak 30 users, each step spawned at 5 users/s (about 1 s of ramp).
    """

    step_users: int = 5
    step_seconds: float = 30.0
    steps: int = 6
    max_users: int | None = None  # a ceiling: when set, the number of steps is what fits under it
    spawn_rate: float | None = None  # users/s; None = a whole step's users in about one second

    @property
    def step_count(self) -> int:
        if self.max_users is not None:
            return math.ceil(self.max_users / self.step_users)
        return self.steps

    def users_at_step(self, step_index: int) -> int:
        """Users during step ``step_index`` (0-based); the last step stops at the ceiling, never above it."""
        users = (step_index + 1) * self.step_users
        return min(users, self.max_users) if self.max_users is not None else users

    @property
    def peak_users(self) -> int:
        return self.users_at_step(self.step_count - 1)

    @property
    def duration_s(self) -> float:
        return self.step_count * self.step_seconds

    @property
    def effective_spawn_rate(self) -> float:
        return self.spawn_rate if self.spawn_rate is not None else float(self.step_users)

    @classmethod
    def from_options(cls, options: Any) -> StepPlan:
        """From Locust's parsed options; attributes that are absent (no parser listener ran) keep the defaults."""
        defaults = cls()
        return cls(
            step_users=_int_option(options, "step_users", defaults.step_users),
            step_seconds=_float_option(options, "step_seconds", defaults.step_seconds),
            steps=_int_option(options, "steps", defaults.steps),
            max_users=_int_option(options, "step_max_users", defaults.max_users),
            spawn_rate=_float_option(options, "step_spawn_rate", defaults.spawn_rate),
        )


@dataclass(frozen=True)
class RampPlan:
    """A linear ramp from 0 to ``peak_users`` over ``ramp_seconds``, then ``hold_seconds`` at the peak.

    Default: 0 -> 30 users over 120 s, held 30 s: 2.5 min, peak 30 users.
    """

    peak_users: int = 30
    ramp_seconds: float = 120.0
    hold_seconds: float = 30.0

    @property
    def duration_s(self) -> float:
        return self.ramp_seconds + self.hold_seconds

    @property
    def spawn_rate(self) -> float:
        return self.peak_users / self.ramp_seconds

    @classmethod
    def from_options(cls, options: Any) -> RampPlan:
        defaults = cls()
        return cls(
            peak_users=_int_option(options, "ramp_max_users", defaults.peak_users),
            ramp_seconds=_float_option(options, "ramp_seconds", defaults.ramp_seconds),
            hold_seconds=_float_option(options, "ramp_hold_seconds", defaults.hold_seconds),
        )


def step_target(plan: StepPlan, elapsed_s: float) -> Tick:
    """Users for the step that ``elapsed_s`` falls in; None once the last step has run its full length."""
    step_index = int(elapsed_s // plan.step_seconds)
    if step_index >= plan.step_count:
        return None
    return plan.users_at_step(step_index), plan.effective_spawn_rate


def ramp_target(plan: RampPlan, elapsed_s: float) -> Tick:
    """The peak at the ramp's spawn rate for the whole run; Locust's runner does the ramping at that rate.

    Returning the same tick throughout matters: Locust's ``runner.start`` blocks until a spawn is complete, and a
    changed tick would restart the spawn.
    """
    if elapsed_s >= plan.duration_s:
        return None
    return plan.peak_users, plan.spawn_rate


SHAPES = ("step", "ramp")


def _environment_options(shape: LoadTestShape) -> Any:
    runner = shape.runner
    return getattr(runner.environment, "parsed_options", None) if runner is not None else None


class SelectedLoadShape(LoadTestShape):
    """The shape named by ``--load-shape`` (``step``, the default, or ``ramp``), with that shape's duration and peak.

    Defined first in this module on purpose: Locust runs the first shape it finds (see the module docstring).
    """

    def tick(self) -> Tick:
        options = _environment_options(self)
        if (getattr(options, "load_shape", None) or "step") == "ramp":
            return ramp_target(RampPlan.from_options(options), self.get_run_time())
        return step_target(StepPlan.from_options(options), self.get_run_time())


class StepLoadShape(LoadTestShape):
    """Step load: ``--steps`` steps (or up to ``--step-max-users``) of ``--step-users`` users, ``--step-seconds`` each.

    Default 6 x 30 s = 3 min, peak 30 users. Each step is a plateau that the capacity report measures.
    """

    def tick(self) -> Tick:
        return step_target(StepPlan.from_options(_environment_options(self)), self.get_run_time())


class RampLoadShape(LoadTestShape):
    """Linear ramp to ``--ramp-max-users`` over ``--ramp-seconds``, held ``--ramp-hold-seconds``.

    Default 0 -> 30 users over 120 s + 30 s hold = 2.5 min, peak 30 users. A ramp has no plateaus except the hold:
    use it to see where things break, and the step shape to measure capacity.
    """

    def tick(self) -> Tick:
        return ramp_target(RampPlan.from_options(_environment_options(self)), self.get_run_time())


# ---- command-line / locust.conf options ------------------------------------------------------------------------------


@overload
def _int_option(options: Any, name: str, default: int) -> int: ...
@overload
def _int_option(options: Any, name: str, default: int | None) -> int | None: ...
def _int_option(options: Any, name: str, default: int | None) -> int | None:
    # The web UI hands custom options back as strings; the command line and locust.conf as parsed numbers.
    value = getattr(options, name, None)
    return default if value in (None, "") else int(float(value))


@overload
def _float_option(options: Any, name: str, default: float) -> float: ...
@overload
def _float_option(options: Any, name: str, default: float | None) -> float | None: ...
def _float_option(options: Any, name: str, default: float | None) -> float | None:
    value = getattr(options, name, None)
    return default if value in (None, "") else float(value)


@events.init_command_line_parser.add_listener
def add_shape_options(parser: Any) -> None:
    # This module can be imported twice under two names (as the locustfile "shapes" via -f, and as
    # scenarios.shapes by other code); registering the options twice would be an argparse conflict.
    if any("--load-shape" in action.option_strings for action in parser._actions):
        return
    step, ramp = StepPlan(), RampPlan()
    group = parser.add_argument_group("load shapes (scenarios/shapes.py)")
    group.add_argument("--load-shape", choices=SHAPES, default="step",
                       help="which shape SelectedLoadShape plays (default step)")
    group.add_argument("--step-users", type=positive_int, default=step.step_users,
                       help=f"users added per step (default {step.step_users})")
    group.add_argument("--step-seconds", type=positive_float, default=step.step_seconds,
                       help=f"length of each step in seconds, ramp-up included (default {step.step_seconds:g})")
    group.add_argument("--steps", type=positive_int, default=step.steps,
                       help=f"number of steps (default {step.steps}); ignored when --step-max-users is set")
    group.add_argument("--step-max-users", type=positive_int, default=None,
                       help="a ceiling instead of a step count: as many steps as fit under it")
    group.add_argument("--step-spawn-rate", type=positive_float, default=None,
                       help="users started per second within a step (default: one step's users per second)")
    group.add_argument("--ramp-max-users", type=positive_int, default=ramp.peak_users,
                       help=f"ramp shape's peak users (default {ramp.peak_users})")
    group.add_argument("--ramp-seconds", type=positive_float, default=ramp.ramp_seconds,
                       help=f"ramp shape's time from 0 to the peak (default {ramp.ramp_seconds:g})")
    group.add_argument("--ramp-hold-seconds", type=non_negative_float, default=ramp.hold_seconds,
                       help=f"ramp shape's time held at the peak (default {ramp.hold_seconds:g})")
