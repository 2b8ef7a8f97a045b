"""Which user classes run, and with which weights: Locust's own selection plus the harness's default mix.

How Locust 2.47 picks user classes (read from locust/main.py, env.py, runners.py):
* every concrete User subclass in the locustfile's namespace is available (``abstract = True`` hides a base);
* class names on the command line (``locust -f locustfile.py ExportUser AuthUser``) select those classes;
* with NO class named, Locust runs ALL available classes, weighted by ``User.weight``; there is no
  ``default_user_classes`` setting;
* ``--class-picker`` lets the web UI choose classes (and shapes);
* ``-T/--tags`` and ``-E/--exclude-tags`` filter tasks when the test starts; a class left with no task fails.

The harness adds, as Locust ``init`` / ``test_start`` listeners:
* with no class named, no ``-T`` and no ``--class-picker``: the mix that ``--mix`` names, decided on the master (or
  local runner): workers keep every class, since they spawn whatever the master dispatches. ``--mix journey`` (the
  default): ``ProspectorUser`` alone; ``--mix all``: every class workload.toml [mix] weighs; ``--mix perf``: the
  same classes with PERF_WEIGHTS (``python -m harness perf`` gives it). With ``--arrival-rate``, ``all`` and
  ``perf`` mean those classes' open-model twins (scenarios/arrivals.py: ``ExportUser`` -> ``ExportArrivalUser``);
  ``journey`` leaves the choice to harness/arrivals.py;
* with ``-T`` and no class named: every class that still has a task (``-T export`` runs ExportUser alone);
* class weights from workload.toml [mix] (``--mix perf``: PERF_WEIGHTS over it), so a run of several classes has a
  stated mix; a weight (or fixed_count) given with Locust's ``--config-users`` wins.
"""

from __future__ import annotations

import itertools
import logging

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from scenarios.workload import get_workload

logger = logging.getLogger(__name__)

DEFAULT_USER_CLASS = "ProspectorUser"
MIXES = ("journey", "all", "perf")

# --mix perf (python -m harness perf): weights over workload.toml [mix], 80 users in make perf. Measured at 60 users
# with the everyday mix, a DiscoveryUser sends ~0.12 synchronous discoveries/s and an ExportUser ~0.24 export
# metadata calls/s; ~230 of each are needed for a decision (analysis/sequential.py), so ~20 DiscoveryUsers and ~11
# ExportUsers make both decide in about 2 minutes, while the journey (ProspectorUser) keeps most of the users.
PERF_WEIGHTS = {"ProspectorUser": 32, "DiscoveryUser": 22, "ExportUser": 12, "EnrichmentUser": 6, "AuthUser": 8}


@events.init_command_line_parser.add_listener
def _add_mix_option(parser, **_kwargs) -> None:
    parser.add_argument("--mix", choices=MIXES, default="journey", env_var="LOCUST_MIX",
                        help="the user classes run when none is named (scenarios/selection.py): journey "
                             "(ProspectorUser, the default), all (every class of workload.toml [mix]), perf (the same "
                             "classes, weighted so that every required endpoint decides)")  # fmt: skip


def arrival_twin(class_name: str) -> str:
    """The open-model class of a closed-model one (scenarios/arrivals.py names them so)."""
    return class_name.replace("User", "ArrivalUser")


@events.init.add_listener
def _choose_default_mix(environment: Environment, **_kwargs) -> None:
    options = environment.parsed_options
    if options is None:
        return
    chosen_mix = getattr(options, "mix", "journey")
    mix = dict(get_workload().mix)
    if chosen_mix == "perf":
        mix.update(PERF_WEIGHTS)
    configured = {
        config.get("user_class_name")
        for config in itertools.chain(*(getattr(options, "config_users", None) or []))
        if isinstance(config, dict) and ("weight" in config or "fixed_count" in config)
    }
    for user_class in environment.user_classes:
        if user_class.__name__ in mix and user_class.__name__ not in configured:
            user_class.weight = mix[user_class.__name__]
    named = bool(getattr(options, "user_classes", None))
    if named or getattr(options, "tags", None) or getattr(options, "class_picker", False):
        return
    if isinstance(environment.runner, WorkerRunner):
        return  # the master chooses; a worker must be able to spawn any class the master dispatches
    by_name = {user_class.__name__: user_class for user_class in environment.user_classes}
    if chosen_mix == "journey":
        if DEFAULT_USER_CLASS in by_name:
            environment.user_classes[:] = [by_name[DEFAULT_USER_CLASS]]
        return
    wanted = list(mix)
    if getattr(options, "arrival_rate", None):  # harness/arrivals.py may already have narrowed user_classes
        by_name.update(getattr(environment, "available_user_classes", None) or {})
        wanted = [arrival_twin(name) for name in wanted]
    environment.user_classes[:] = [by_name[name] for name in wanted if name in by_name]


@events.test_start.add_listener
def _drop_classes_without_tasks(environment: Environment, **_kwargs) -> None:
    """After Locust filtered tasks by tags: a class with no task left cannot run, so it does not."""
    if isinstance(environment.runner, WorkerRunner):
        return  # the master dispatches only the classes it kept
    runnable = [user_class for user_class in environment.user_classes if user_class.tasks]
    if runnable and len(runnable) != len(environment.user_classes):
        dropped = sorted({c.__name__ for c in environment.user_classes} - {c.__name__ for c in runnable})
        logger.info("user classes with no task left after tag filtering, not run: %s", ", ".join(dropped))
        environment.user_classes[:] = runnable
