"""Test-only listeners loaded beside locustfile.py in the failure tests; they watch, they never change a request.

* ``final_failures.json``: every failure message with its exact final count. Locust's headless shutdown does
  not rewrite locust_failures.csv after its last 1 s tick, so the CSV can miss the last second's failures; the
  count comparison with the simulator needs them all.
* ``request_timeline.json``: per virtual user (its greenlet), the start, duration and status of every HTTP request,
  to measure what a user did after a 429 with Retry-After.
Both are written through harness.results' artifact writers, i.e. at the end of the run, into the results folder.
"""

import json

import gevent
from locust import events
from locust.runners import WorkerRunner

from harness.results import register_artifact_writer

_timeline: list[tuple[int, float, float, int]] = []


@events.test_start.add_listener
def _forget(**_kwargs) -> None:
    _timeline.clear()


@events.request.add_listener
def _record(request_type, response_time, start_time=None, response=None, **_kwargs) -> None:
    if request_type == "JOB" or start_time is None:  # a derived timing, not a request the user sent
        return
    status = getattr(response, "status_code", 0) or 0
    _timeline.append((id(gevent.getcurrent()), start_time, response_time or 0.0, status))


@register_artifact_writer
def _write(environment, results_dir) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    errors = [{"key": f"{error.method} {error.name}", "message": str(error.error), "occurrences": error.occurrences}
              for error in environment.runner.stats.errors.values()]  # fmt: skip
    (results_dir / "final_failures.json").write_text(json.dumps(errors, indent=1))
    users: dict[int, list] = {}
    for user, start, duration_ms, status in _timeline:
        users.setdefault(user, []).append([start, duration_ms, status])
    (results_dir / "request_timeline.json").write_text(json.dumps(list(users.values())))
