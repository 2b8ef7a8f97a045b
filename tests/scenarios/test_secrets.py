"""No secret reaches a file or the console, even in a run full of failures and exceptions.

Recognisable canary values are configured on both sides (the simulator's --publishable-key and PP_PUBLISHABLE_KEY,
a test user created with a canary password, session JWTs minted before the run), then runs with fault profiles
switched in mid-run and a user whose task crashes right after a request. Every file the runs and the report wrote, and all
console output, is searched for the values, for their tails (a preview may show the first 8 characters, no more),
and for anything shaped like a JWT.

tests/harness/test_launcher.py checks the launcher's healthy run for the simulator's default secrets; this adds
canaries, faults, exceptions, pre-minted tokens and the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.failure_runs import LOCUSTFILES, REPO_ROOT, LocustRun, finish_run, start_run, stop_if_running
from harness.simulator_process import start_simulator
from tests.support.locust_runs import secrets_found

pytestmark = pytest.mark.integration

PUBLISHABLE_KEY = "sb_publishable_SECRETCANARY_7f3a9c1e55d0"
SERVICE_ROLE_KEY = "sb_secret_SERVICECANARY_0b8e41a7c2"
PASSWORD = "pw-PASSWORDCANARY-93kq1x"
CANARY_EMAIL = "canary@prospectpro.test"
PREVIEW_CHARS = 8  # settings.preview() shows this many; the rest of a secret must never appear
FAULTS_IN_TURN = ("malformed", "error-burst", "outage")  # switched in one after another while the run goes
SERVED_PER_PHASE = 20  # requests answered before the next fault: the run sends ~200 (6 users, 9 s)
LOCUSTFILES_WITH_CRASH = LOCUSTFILES + ",tests/support/exploding_user.py"
CLASSES = ("ProspectorUser", "DiscoveryUser", "EnrichmentUser", "ExportUser", "AuthUser", "ExplodingUser")

# No proxy between the test and its own simulator.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post(url: str, body: dict, bearer: str | None = None) -> dict:
    headers = {"apikey": PUBLISHABLE_KEY, "Content-Type": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with _opener.open(request, timeout=10) as response:
        return json.loads(response.read())


def _switch_faults(simulator, stop: threading.Event) -> None:
    """Each fault in turn, once the simulator has answered SERVED_PER_PHASE more requests since the last switch: by
    the run's progress, not by the clock (on a busy machine Locust starts late, and a timer switched every fault in
    before the first request)."""
    for profile in FAULTS_IN_TURN:
        since = simulator.stats()["total"]
        while simulator.stats()["total"] - since < SERVED_PER_PHASE:
            if stop.wait(0.2):
                return
        simulator.set_profile(profile)


def _run_with_faults(simulator, results_dir, settings: dict) -> tuple[LocustRun, str]:
    """A run of every class plus the crashing one while the faults take turns, then its report; all console output."""
    stop = threading.Event()
    switcher = threading.Thread(target=_switch_faults, args=(simulator, stop))
    process = start_run(simulator.url, results_dir, "-u", "6", "-r", "6", "--equal-weights", "-t", "9s", "--baseline",
                        "baselines/production.toml", *CLASSES, settings=settings, locustfiles=LOCUSTFILES_WITH_CRASH)  # fmt: skip
    switcher.start()
    try:
        run = finish_run(process, results_dir)
    finally:
        stop.set()
        switcher.join()
        stop_if_running(process)
    report = subprocess.run([sys.executable, "-m", "analysis", "report", str(results_dir), "--baseline",
                             "baselines/production.toml", "--output", str(results_dir)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (results_dir / "report.html").is_file(), report.stderr
    # The run did meet what it was meant to: failures of several kinds, and exceptions.
    assert len(run.failure_categories()) >= 2, run.failure_categories()
    assert run.exceptions(), "the crashing task raised nothing"
    return run, run.console + report.stdout + report.stderr


def _leaks(results_dir, console: str, secrets: list[str]) -> list[str]:
    files = [path for path in results_dir.rglob("*") if path.is_file()]
    found = secrets_found(files, console)  # the simulator's default secrets, and anything shaped like a JWT
    blobs = [(str(path), path.read_bytes()) for path in files] + [("console output", console.encode())]
    for secret in secrets:
        for fragment in (secret, secret[PREVIEW_CHARS:]):
            found += [f"{where}: {fragment}" for where, blob in blobs if fragment.encode() in blob]
    return found


def _with_canary_password(simulator, results_dir) -> tuple[str, list[str]]:
    _post(f"{simulator.url}/auth/v1/admin/users", {"email": CANARY_EMAIL, "password": PASSWORD}, bearer=SERVICE_ROLE_KEY)
    run, console = _run_with_faults(simulator, results_dir, {"PP_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
                                                             "PP_TEST_USERS": CANARY_EMAIL, "PP_TEST_PASSWORD": PASSWORD})  # fmt: skip
    sign_in = run.entries()["POST /auth/v1/token?grant_type=password"]
    assert sign_in["num_requests"] > sign_in["num_failures"], "the canary user never signed in: nothing was at stake"
    return console, [PUBLISHABLE_KEY, PASSWORD, SERVICE_ROLE_KEY]


def _with_preminted_jwts(simulator, results_dir) -> tuple[str, list[str]]:
    tokens = [_post(f"{simulator.url}/auth/v1/token?grant_type=password",
                    {"email": f"loadtest-{n}@prospectpro.test", "password": "prospectpro-loadtest"})["access_token"]
              for n in (1, 2)]  # fmt: skip
    run, console = _run_with_faults(simulator, results_dir, {"PP_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
                                                             "PP_SESSION_JWTS": ",".join(tokens)})  # fmt: skip
    enrich = run.entries()["POST /functions/v1/enrichment-orchestrator"]
    assert enrich["num_requests"] > enrich["num_failures"], "no request was made with the pre-minted tokens"
    return console, [PUBLISHABLE_KEY, *tokens]


RUNS = {"canary-password": _with_canary_password, "preminted-jwts": _with_preminted_jwts}


@pytest.fixture(scope="module")
def leaks(tmp_path_factory) -> dict[str, list[str]]:
    """Both runs at once, each on its own simulator with the canary keys; what each leaked."""
    root = tmp_path_factory.mktemp("secrets")

    def run(name: str) -> tuple[str, list[str]]:
        with start_simulator("--profile", "healthy", "--time-scale", "0.05", "--job-time-scale", "0.02",
                             "--publishable-key", PUBLISHABLE_KEY, "--service-role-key", SERVICE_ROLE_KEY) as simulator:  # fmt: skip
            console, secrets = RUNS[name](simulator, root / name)
        return name, _leaks(root / name, console, secrets)

    with ThreadPoolExecutor(len(RUNS)) as pool:
        return dict(pool.map(run, RUNS))


@pytest.mark.parametrize("name", RUNS)
def test_no_secret_appears_in_any_file_or_the_console_of_a_faulty_run_and_its_report(leaks, name):
    assert leaks[name] == []
