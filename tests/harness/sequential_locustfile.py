"""tests/golden/locustfile_golden.py plus the interval recorder, as locustfile.py registers it: the until-decided
gate looks at each interval the recorder writes."""

import harness.intervals
from locustfile_golden import GoldenUser  # noqa: F401  (the user class; the gate and results folder come with it)

harness.intervals.register()
