"""Which user classes run, and with which weights: Locust's own selection plus the harness's default mix.

How Locust 2.47 picks user classes (read from locust/main.py, env.py, runners.py):
* every concrete User subclass in the locustfile's namespace is available (``abstract = True`` hides a base);
* class names on the command line (``locust -f locustfile.py ExportUser AuthUser``) select those classes;
* with NO class named, Locust runs ALL available classes, weighted by ``User.weight``; there is no
  ``default_user_classes`` setting;
* ``--class-picker`` lets the web UI choose classes (and shapes);
* ``-T/--tags`` and ``-E/--exclude-tags`` filter tasks when the test starts; a class left with no task fails.

The harness adds, as Locust ``init`` / ``test_start`` listeners:
* with no class named, no ``-T`` and no ``--class-picker``: only ``ProspectorUser`` (the default mix), decided on
  the master (or local runner): workers keep every class, since they spawn whatever the master dispatches;
* with ``-T`` and no class named: every class that still has a task (``-T export`` runs ExportUser alone);
* class weights from workload.toml [mix], so a run of several classes has a stated mix; a weight (or fixed_count)
  given with Locust's ``--config-users`` wins (``make perf`` sets its mix that way).
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


@events.init.add_listener
def _choose_default_mix(environment: Environment, **_kwargs) -> None:
    options = environment.parsed_options
    if options is None:
        return
    mix = get_workload().mix
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
    if DEFAULT_USER_CLASS in by_name:
        environment.user_classes[:] = [by_name[DEFAULT_USER_CLASS]]


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
