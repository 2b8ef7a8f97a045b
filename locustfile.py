"""ProspectPro load test: the user classes and the listeners. Behaviour lives in scenarios/, plumbing in harness/.

    locust -f locustfile.py                          the default mix: ProspectorUser (the prospecting journey)
    locust -f locustfile.py ExportUser AuthUser      named classes (weights from scenarios/workload.toml [mix])
    locust -f locustfile.py -T export                every class with an `export` task
    locust -f locustfile.py --class-picker           choose in the web UI
    locust -f locustfile.py,scenarios/shapes.py      a capacity run: the shape in scenarios/shapes.py drives it
    locust -f locustfile.py --arrival-rate 2 -u 40   open model: 2 arrivals/s run by a pool of 40 users

Shapes are not imported here on purpose: Locust runs the first LoadTestShape it finds in a locustfile, so a shape
imported here would take over every run (see scenarios/shapes.py).
"""

# Listeners register on import; the order does not matter: harness.results runs the end-of-run work in its order.
import harness.arrivals  # noqa: F401  --arrival-rate: the open workload model
import harness.gate  # noqa: F401  the in-run verdict (a finalizer of harness.results)
import harness.intervals  # noqa: F401  intervals.jsonl
import harness.livesla  # noqa: F401  the live SLA view (the SLA tab and /metrics read it)
import harness.prometheus  # noqa: F401  /metrics (web UI), --metrics-port (headless)
import harness.results  # noqa: F401  --results-dir, manifest.json, results/latest
import harness.webui  # noqa: F401  the SLA tab, a report per web-UI test
import harness.workers  # noqa: F401  a worker of another harness version or scenario is refused before any load
import scenarios.auth_pacing  # noqa: F401  --egress-ips: GoTrue's per-IP sign-in budget, shared behind one address
import scenarios.run_state  # one RunState per environment: business metrics, guards (target, caps, spend), sessions
import scenarios.selection  # noqa: F401  default mix, class weights
from scenarios.arrivals import (AuthArrivalUser, DiscoveryArrivalUser, EnrichmentArrivalUser, ExportArrivalUser,
                                 ProspectorArrivalUser, SessionCheckArrivalUser)  # fmt: skip
from scenarios.auth import AuthUser
from scenarios.discovery import DiscoveryUser
from scenarios.enrichment import EnrichmentUser
from scenarios.export import ExportUser
from scenarios.journey import ProspectorUser
from scenarios.realtime import open_connections

harness.intervals.register()  # its listeners are opt-in (tests build environments without them)
harness.intervals.register_gauge("realtime_connections", open_connections)  # open websockets, per interval
harness.livesla.register()
harness.livesla.register_business_source(lambda environment: scenarios.run_state.state_of(environment).metrics.to_json())

__all__ = ["AuthUser", "DiscoveryUser", "EnrichmentUser", "ExportUser", "ProspectorUser",
           # open model (--arrival-rate): one arrival of each runs one task of its closed class
           "AuthArrivalUser", "DiscoveryArrivalUser", "EnrichmentArrivalUser", "ExportArrivalUser",
           "ProspectorArrivalUser", "SessionCheckArrivalUser"]
