"""The live SLA view decides on the master, in the loop that times the users' responses: the costly part, the
regression checks against a reference (a bootstrap of every endpoint), is made at most every
REGRESSION_REFRESH_S while a test runs, and always once it is finished."""

from __future__ import annotations

from types import SimpleNamespace

import harness.livesla as livesla
from harness.livesla import REGRESSION_REFRESH_S, LiveSla


def test_regression_checks_are_made_again_only_every_refresh_period_or_at_the_end(monkeypatch):
    made = []
    monkeypatch.setattr(livesla, "regression_checks", lambda run, reference, baseline: made.append(run) or [f"checks {len(made)}"])
    view = LiveSla(environment=SimpleNamespace())
    loaded = SimpleNamespace(baseline="baseline", reference="reference")
    seen = [view._regression_checks(f"run at {t}", loaded, t, finished=False) for t in (0.0, 2.0, 4.0, REGRESSION_REFRESH_S - 1)]
    assert len(made) == 1 and seen == [["checks 1"]] * 4  # the 2 s refreshes keep the last regression checks
    assert view._regression_checks("run", loaded, REGRESSION_REFRESH_S + 0.5, finished=False) == ["checks 2"]
    assert view._regression_checks("run", loaded, REGRESSION_REFRESH_S + 1, finished=True) == ["checks 3"]  # the end
    other = SimpleNamespace(baseline="baseline", reference="another reference")  # a web-UI test with another form
    assert view._regression_checks("run", other, REGRESSION_REFRESH_S + 2, finished=False) == ["checks 4"]
